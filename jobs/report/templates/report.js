// The track table: rows from #rows-data (jobs/report/data.py track_view), filtered, sorted and
// drawn PAGE_ROWS at a time; pictures (#pictures-data) are set only on the rows drawn.
(function () {
  "use strict";
  const rows = JSON.parse(document.getElementById("rows-data").textContent);
  const pictures = JSON.parse(document.getElementById("pictures-data").textContent);
  const $ = (id) => document.getElementById(id);
  const state = { page: 0 };

  // el("td", {class: "x"}, child, "text", ...): an element; text is always set as text, never as HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === "") continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const num = (x, digits) => (x === null || x === undefined ? "" : Number(x).toFixed(digits));

  function matches(t, status, min, max, check) {
    if (status && t.status !== status) return false;
    if (min !== null && !(t.score !== null && t.score !== undefined && t.score >= min)) return false;
    if (max !== null && !(t.score !== null && t.score !== undefined && t.score <= max)) return false;
    if (check) {
      const [name, want] = check.split(":");
      const c = t.checks.find((c) => c.name === name);
      if (!c || c.passed !== (want === "pass")) return false;
    }
    return true;
  }

  const ORDER = { accepted: 0, rejected: 1, failed: 2, missing: 3 };
  function sorter(key) {
    const byId = (a, b) => a.id.localeCompare(b.id, undefined, { numeric: true });
    const val = (t, f) => (t[f] === null || t[f] === undefined ? null : t[f]);
    const by = (f, dir) => (a, b) => {
      const x = val(a, f), y = val(b, f);
      if (x === y) return byId(a, b);
      if (x === null) return 1;  // unknown values last, whichever the direction
      if (y === null) return -1;
      return dir * (x < y ? -1 : 1);
    };
    return {
      id: byId, status: (a, b) => ORDER[a.status] - ORDER[b.status] || byId(a, b),
      "score-": by("score", -1), "score+": by("score", 1), "attempts-": by("attempts", -1),
      "duration-": by("duration_s", -1),
    }[key];
  }

  function visible() {
    const read = (id) => ($(id).value === "" ? null : Number($(id).value));
    const status = $("f-status").value, check = $("f-check").value, min = read("f-min"), max = read("f-max");
    const out = rows.filter((t) => matches(t, status, min, max, check));
    const compare = sorter($("f-sort").value);
    return compare ? out.sort(compare) : out;
  }

  function planCell(t) {
    if (!t.plan) return el("td", {}, t.status === "missing" ? "" : "no plan");
    const p = t.plan;
    return el("td", {}, `${p.bpm} BPM · ${p.key} · ${p.metre} · ${p.genre}`,
      el("div", { class: "muted" }, `${p.sections} (${p.bars} bars)`));
  }

  function checksCell(t) {
    if (t.error) return el("td", { class: "failed" }, t.error);
    if (t.status === "missing") return el("td", { class: "muted" }, "not rendered yet");
    const td = el("td", {}, el("b", {}, num(t.score, 3)));
    for (const c of t.checks) {
      const mark = c.passed ? "✓" : "✗";
      td.append(el("div", { class: "check " + (c.passed ? "pass" : "fail"), title: c.detail || null },
        `${mark} ${c.name}: ${c.measured} / ${c.expected}${c.unit ? " " + c.unit : ""}`));
    }
    return td;
  }

  function takesCell(t) {
    const td = el("td", {}, t.attempts ? `${t.attempts} round${t.attempts === 1 ? "" : "s"}` : "");
    for (const k of t.takes) {
      const score = k.score === null || k.score === undefined ? "no take" : num(k.score, 3);
      td.append(el("div", { class: "take" + (k.kept ? " kept" : "") },
        `r${k.round}·c${k.candidate} ${score}${k.kept ? " (delivered)" : ""}${k.why ? " — " + k.why : ""}`));
    }
    return td;
  }

  function listenCell(t) {
    if (!t.audio) return el("td", {});
    const links = el("div", { class: "links" });
    if (t.midi) links.append(el("a", { href: t.midi }, "MIDI"));
    for (const s of t.stems) links.append(el("a", { href: s.src }, s.name));
    return el("td", {}, el("audio", { controls: "", preload: "metadata", src: t.audio }),
      el("div", { class: "muted" }, t.duration_s ? `${num(t.duration_s, 1)} s` : ""),
      el("a", { href: t.audio, download: "" }, "download"), links);
  }

  function row(t) {
    const pic = t.pic && pictures[t.pic];
    return el("tr", { "data-id": t.id, "data-status": t.status },
      el("td", {}, el("div", { class: "tid" }, t.id), el("span", { class: "pill " + t.status }, t.status),
        el("div", { class: "prompt" }, t.prompt)),
      planCell(t), checksCell(t), takesCell(t), listenCell(t),
      el("td", {}, pic ? el("img", { class: "spec", src: pic, alt: "spectrogram of " + t.id }) : ""));
  }

  function draw() {
    const list = visible();
    const pages = Math.max(1, Math.ceil(list.length / PAGE_ROWS));
    state.page = Math.min(state.page, pages - 1);
    const first = state.page * PAGE_ROWS;
    const shown = list.slice(first, first + PAGE_ROWS);
    $("tracks-body").replaceChildren(...shown.map(row));
    $("shown").textContent = `${list.length} of ${rows.length} tracks`;
    $("page").textContent = list.length ? `rows ${first + 1}–${first + shown.length} of ${list.length}` : "no rows";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  for (const id of ["f-status", "f-min", "f-max", "f-check", "f-sort"]) {
    $(id).addEventListener("input", () => { state.page = 0; draw(); });
  }
  $("prev").addEventListener("click", () => { state.page -= 1; draw(); window.scrollTo(0, $("tracks").offsetTop); });
  $("next").addEventListener("click", () => { state.page += 1; draw(); window.scrollTo(0, $("tracks").offsetTop); });
  for (const button of document.querySelectorAll("button.copy")) {
    button.addEventListener("click", () => {
      const text = button.previousElementSibling.textContent;
      // The clipboard needs a secure context (https or localhost); elsewhere select the text to copy by hand.
      const select = () => window.getSelection().selectAllChildren(button.previousElementSibling);
      if (navigator.clipboard) navigator.clipboard.writeText(text).then(() => { button.textContent = "copied"; }, select);
      else select();
    });
  }
  draw();
})();
