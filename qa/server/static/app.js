// article-qa's page. Plain DOM, no framework, no build step. Every text that comes from the server
// (answers, quotes, article text, titles, file names, error messages) is set with textContent, never
// parsed as HTML, so an article holding "<script>" shows those characters and runs nothing.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  history: [], // earlier turns as the API takes them: {role: "user" | "assistant", content}
  token: sessionStorage.getItem("qa-token") || "",
  docs: new Map(), // doc_id -> fetched document (text and metadata)
  busy: false,
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// -- the token ------------------------------------------------------------------------------------

function askForToken() {
  return new Promise((resolve) => {
    const dialog = $("token-dialog");
    const input = $("token-input");
    input.value = "";
    dialog.addEventListener(
      "close",
      () => {
        state.token = input.value.trim();
        sessionStorage.setItem("qa-token", state.token);
        resolve();
      },
      { once: true },
    );
    dialog.showModal();
    input.focus();
  });
}

// fetch with the bearer token; a 401 asks for the token (once per refusal) and tries again.
async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = new Headers(options.headers || {});
    if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
    const resp = await fetch(path, { ...options, headers });
    if (resp.status !== 401) return resp;
    await askForToken();
  }
  throw new Error("the server refused the token");
}

async function errorText(resp) {
  try {
    const body = await resp.json();
    const err = body.error || {};
    return [err.message || `HTTP ${resp.status}`, err.hint || ""];
  } catch {
    return [`HTTP ${resp.status}`, ""];
  }
}

// -- asking -----------------------------------------------------------------------------------------

function* sseEvents(buffer) {
  // Complete "event: …\ndata: …\n\n" blocks; yields [name, data] and leaves the rest in buffer.rest.
  let at;
  while ((at = buffer.rest.indexOf("\n\n")) >= 0) {
    const block = buffer.rest.slice(0, at);
    buffer.rest = buffer.rest.slice(at + 2);
    let name = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) yield [name, data.join("\n")];
  }
}

async function ask(question) {
  if (state.busy || !question.trim()) return;
  state.busy = true;
  $("ask-button").disabled = true;
  const turn = el("article", { class: "turn" });
  turn.append(el("p", { class: "asked", text: question }));
  const rewrite = el("p", { class: "rewrite", hidden: "" });
  const answer = el("p", { class: "answer draft" });
  turn.append(rewrite, answer);
  $("conversation").append(turn);
  turn.scrollIntoView({ block: "end" });
  try {
    const resp = await api("/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ question, history: state.history }),
    });
    if (!resp.ok) {
      const [message, hint] = await errorText(resp);
      showError(turn, answer, message, hint);
      return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    const buffer = { rest: "" };
    let final = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer.rest += decoder.decode(value, { stream: true });
      for (const [name, data] of sseEvents(buffer)) {
        const payload = JSON.parse(data);
        if (name === "rewrite" && payload.rewritten) {
          rewrite.textContent = `→ ${payload.question}`;
          rewrite.hidden = false;
        } else if (name === "token") {
          answer.textContent += payload.text;
        } else if (name === "answer") {
          final = payload;
        } else if (name === "error") {
          const err = payload.error || {};
          showError(turn, answer, err.message || "error", err.hint || "");
          return;
        }
      }
    }
    if (final) {
      renderAnswer(turn, answer, final);
      state.history.push({ role: "user", content: question }, { role: "assistant", content: final.answer });
    }
  } catch (exc) {
    showError(turn, answer, String(exc.message || exc), "");
  } finally {
    state.busy = false;
    $("ask-button").disabled = false;
    $("question").focus();
  }
}

function showError(turn, answer, message, hint) {
  answer.remove();
  turn.append(el("p", { class: "error", text: `Error: ${message}` }));
  if (hint) turn.append(el("p", { class: "refusal-reason", text: `Hint: ${hint}` }));
}

function renderAnswer(turn, draft, result) {
  const answer = el("p", { class: "answer" });
  draft.replaceWith(answer);
  if (!result.answerable) {
    answer.textContent = result.answer;
    turn.classList.add("refused");
    if (result.refusal_reason) {
      turn.append(el("p", { class: "refusal-reason", text: `Why: ${plainReason(result.refusal_reason)}` }));
      turn.append(
        el("details", {}, el("summary", { text: "The check that refused" }), el("p", { text: result.refusal_reason })),
      );
    }
    if (result.passages && result.passages.length) {
      turn.append(el("p", { text: "Closest passages found:" }));
      const list = el("ul", { class: "sources passages" });
      for (const p of result.passages) {
        const open = () => openArticle(p.doc_id, [{ start: p.char_start, end: p.char_end }], 0);
        list.append(
          el(
            "li",
            {},
            el("button", { type: "button", class: "link", text: p.title || p.doc_id, onclick: open }),
            el("div", { class: "quote", text: p.text.length > 220 ? `${p.text.slice(0, 220)}…` : p.text }),
          ),
        );
      }
      turn.append(list);
    }
    return;
  }
  // The answer text with each [n] made a button that opens citation n in its article.
  const byKey = new Map(result.citations.map((c) => [c.key, c]));
  const text = result.answer;
  const marker = /\[(\d+)\]/g;
  let last = 0;
  let m;
  while ((m = marker.exec(text)) !== null) {
    answer.append(text.slice(last, m.index));
    const cite = byKey.get(Number(m[1]));
    if (cite) {
      answer.append(
        el("button", {
          type: "button",
          class: "cite",
          text: m[0],
          "data-key": m[1],
          title: `Open the quote in ${cite.title || cite.doc_id}`,
          onclick: () => openCitation(result, cite),
        }),
      );
    } else {
      answer.append(m[0]);
    }
    last = m.index + m[0].length;
  }
  answer.append(text.slice(last));
  const list = el("ol", { class: "sources" });
  for (const c of result.citations) {
    list.append(
      el(
        "li",
        { value: String(c.key) },
        el("button", {
          type: "button",
          class: "link source",
          "data-key": String(c.key),
          text: c.title || c.doc_id,
          onclick: () => openCitation(result, c),
        }),
        el("div", { class: "quote", text: `“${c.quote}”` }),
      ),
    );
  }
  turn.append(list);
}

// The refusal reasons are the checks' own words; this says what they mean for the reader.
const PLAIN_REASONS = [
  [/instruction to the assistant/, "that was an instruction to the assistant, not a question about the articles."],
  [/found no sentence|no passages|no passage is related/, "no sentence in the articles answers it."],
  [/never mention (.+)/, (m) => `the articles never mention ${m[1]}.`],
  [/about something else/, "the closest sentences found are about something else."],
  [/not in the sentences it cites|comes from a cited sentence|repeats the question|only say what is/,
    "the model's answer is not backed by the sentences it pointed at, so it is not shown."],
  [/asks for a number|asks when|asks who|verdict/, "the sentences found don't give the kind of answer asked for."],
];

function plainReason(reason) {
  for (const [pattern, said] of PLAIN_REASONS) {
    const m = reason.match(pattern);
    if (m) return typeof said === "function" ? said(m) : said;
  }
  return `${reason}.`;
}

function openCitation(result, cite) {
  // Every citation of the answer in that article is highlighted; the chosen one is emphasised.
  const same = result.citations.filter((c) => c.doc_id === cite.doc_id);
  const ranges = same.map((c) => ({ start: c.char_start, end: c.char_end, key: c.key }));
  return openArticle(cite.doc_id, ranges, same.indexOf(cite));
}

// -- the reading pane -------------------------------------------------------------------------------

async function fetchDocument(docId) {
  if (!state.docs.has(docId)) {
    const resp = await api(`/documents/${encodeURIComponent(docId)}`);
    if (!resp.ok) {
      const [message] = await errorText(resp);
      throw new Error(message);
    }
    state.docs.set(docId, await resp.json());
  }
  return state.docs.get(docId);
}

async function openArticle(docId, ranges, selected) {
  closePanel($("docs"));
  const pane = $("reader");
  const body = $("reader-text");
  let doc;
  try {
    doc = await fetchDocument(docId);
  } catch (exc) {
    $("reader-title").textContent = docId;
    $("reader-meta").textContent = `Could not open the article: ${exc.message}`;
    body.textContent = "";
    showPanel(pane);
    return;
  }
  $("reader-title").textContent = doc.title || doc.doc_id;
  const meta = [doc.source, doc.published_at, doc.url].filter(Boolean).join(" · ");
  $("reader-meta").textContent = meta || doc.doc_id;
  body.textContent = "";
  const sorted = ranges
    .map((r, i) => ({ ...r, selected: i === selected }))
    .filter((r) => r.start >= 0 && r.end <= doc.text.length && r.start < r.end)
    .sort((a, b) => a.start - b.start);
  let at = 0;
  let chosen = null;
  for (const r of sorted) {
    if (r.start < at) continue; // overlapping ranges: the first one wins
    body.append(doc.text.slice(at, r.start));
    const mark = el("mark", { text: doc.text.slice(r.start, r.end), "data-start": String(r.start) });
    if (r.key !== undefined) mark.dataset.key = String(r.key);
    if (r.selected) {
      mark.classList.add("selected");
      chosen = mark;
    }
    body.append(mark);
    at = r.end;
  }
  body.append(doc.text.slice(at));
  showPanel(pane);
  (chosen || body).scrollIntoView({ block: "center" });
}

function showPanel(panel) {
  panel.hidden = false;
  document.body.classList.add("reading");
}

function closePanel(panel) {
  panel.hidden = true;
  if ($("reader").hidden && $("docs").hidden) document.body.classList.remove("reading");
}

// -- documents --------------------------------------------------------------------------------------

let documentsLoads = 0; // the newest call of loadDocuments; an older one's answer is not shown

async function loadDocuments() {
  // The list is replaced in one step once the new one is built: cleared first, it would stand empty
  // while the answer is read, and two loads at once (open + upload) would each append their items.
  const mine = ++documentsLoads;
  const resp = await api("/documents");
  let items;
  if (!resp.ok) {
    const [message] = await errorText(resp);
    items = [el("li", { class: "report-failed", text: message })];
  } else {
    const docs = await resp.json();
    items = docs.map((d) =>
      el(
        "li",
        { "data-doc-id": d.doc_id },
        el("button", {
          type: "button",
          class: "link",
          text: d.title || d.doc_id,
          onclick: () => openArticle(d.doc_id, [], -1),
        }),
        el("button", { type: "button", class: "delete", text: "Delete", onclick: () => removeDocument(d) }),
      ),
    );
    if (!items.length) items = [el("li", { text: "No documents yet: add some above." })];
  }
  if (mine !== documentsLoads) return;
  $("doc-list").replaceChildren(...items);
}

async function removeDocument(doc) {
  if (!window.confirm(`Delete "${doc.title || doc.doc_id}" and its passages from the store?`)) return;
  const resp = await api(`/documents/${encodeURIComponent(doc.doc_id)}`, { method: "DELETE" });
  if (!resp.ok) {
    const [message] = await errorText(resp);
    $("upload-report").textContent = `Could not delete: ${message}`;
  }
  state.docs.delete(doc.doc_id);
  await loadDocuments();
}

async function upload(event) {
  event.preventDefault();
  const files = $("upload-files").files;
  const out = $("upload-report");
  out.textContent = "";
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  out.textContent = "Uploading…";
  const resp = await api("/documents", { method: "POST", body: form });
  const body = await resp.json().catch(() => ({}));
  const report = resp.ok ? body : body.report;
  out.textContent = "";
  if (!report) {
    const err = body.error || {};
    out.append(el("p", { class: "report-failed", text: err.message || `HTTP ${resp.status}` }));
    return;
  }
  const ok = [...report.added, ...report.updated];
  out.append(
    el("p", {
      class: "report-summary",
      text: `Added ${report.added.length}, updated ${report.updated.length}, unchanged ${report.skipped.length}, failed ${report.failed.length}.`,
    }),
  );
  const list = el("ul", { class: "report" });
  for (const id of ok) list.append(el("li", { class: "report-ok", text: `${id}: ingested` }));
  for (const f of report.failed) {
    list.append(el("li", { class: "report-failed", text: `${f.path}: ${f.reason}${f.hint ? ` (${f.hint})` : ""}` }));
  }
  out.append(list);
  $("upload-files").value = "";
  await loadDocuments();
}

// -- wiring -----------------------------------------------------------------------------------------

$("ask-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("question");
  const question = input.value;
  input.value = "";
  ask(question);
});
$("new-conversation").addEventListener("click", () => {
  state.history = [];
  $("conversation").textContent = "";
  $("question").focus();
});
$("reader-close").addEventListener("click", () => closePanel($("reader")));
$("docs-close").addEventListener("click", () => closePanel($("docs")));
$("docs-toggle").addEventListener("click", async () => {
  closePanel($("reader"));
  showPanel($("docs"));
  await loadDocuments();
});
$("upload-form").addEventListener("submit", upload);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    closePanel($("reader"));
    closePanel($("docs"));
    $("question").focus();
  }
});
$("question").focus();
