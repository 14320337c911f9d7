// Keeps the board and the rollout page live: ticks countdowns every second, and on each
// finding from /api/v1/stream re-fetches the rollout it names and redraws its row.
// Bus data only ever goes through textContent and attributes: it is never parsed as markup.
// The row structure mirrors sentinel/status/markup.py: change both together.
"use strict";

(function () {
  const body = document.body;
  const STATES = {
    seen: ["✓", "seen"], due: ["◷", "due"], stalled: ["⚠", "stalled"],
    pending: ["○", "pending"], cancelled: ["⊘", "cancelled"],
  };
  const PHASES = {
    open: ["●", "open"], rolling_back: ["↺", "rolling back"],
    completed: ["✓", "completed"], rolled_back: ["↩", "rolled back"],
  };
  const PROBLEMS = {
    stall: ["⚠", "stall"], deadline_exceeded: ["⏱", "deadline exceeded"],
    rollback: ["↺", "rollback"],
  };
  const GOOD = new Set(["completed", "recovered", "rolled_back"]);
  const RECENT = 50;
  const RESYNC_MS = 30000;

  // The sentinel's clock (event time in a replay, the wall clock live) minus the browser's.
  let offset = Date.parse(body.dataset.clock) - Date.now();
  if (Number.isNaN(offset)) offset = 0;
  const now = () => Date.now() + offset;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function shortDuration(ms) {
    let left = Math.max(0, Math.round(ms / 1000));
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
      const count = Math.floor(left / size);
      left -= count * size;
      if (count) parts.push(count + unit);
    }
    return parts.slice(0, 2).join("") || "0s";
  }

  function clockText(iso) {
    if (!iso) return "-";
    const stamp = new Date(Date.parse(iso)).toISOString();
    const today = new Date(now()).toISOString().slice(0, 10);
    return stamp.slice(0, 10) === today ? stamp.slice(11, 19)
      : stamp.slice(0, 10) + " " + stamp.slice(11, 16);
  }

  function timeTag(iso) {
    if (!iso) return document.createTextNode("-");
    const node = el("time", "", clockText(iso));
    node.setAttribute("datetime", iso);
    return node;
  }

  function badge(kind, table, value) {
    const [symbol, word] = table[value] || ["•", String(value).replace(/_/g, " ")];
    const node = el("span", "badge " + kind + "-" + value);
    const sym = el("span", "sym", symbol);
    sym.setAttribute("aria-hidden", "true");
    node.append(sym, " " + word);
    return node;
  }

  function tickText(kind, due) {
    const left = Date.parse(due) - now();
    if (kind === "stalled") return "overdue " + shortDuration(-left);
    return left > 0 ? "due in " + shortDuration(left)
      : "window passed " + shortDuration(-left) + " ago";
  }

  function stepDetail(step) {
    if (step.state === "seen") {
      return "at " + clockText(step.seen_at) + (step.stalled ? " (after its stall)" : "");
    }
    if ((step.state === "due" || step.state === "stalled") && step.due) {
      return tickText(step.state, step.due);
    }
    if (step.state === "due") return "no window";
    if (step.state === "pending") {
      return step.after.length ? "after " + step.after.join(", ") : "waits for its event";
    }
    return "off the script (rollback)";
  }

  function renderStep(step) {
    const item = el("li", "step state-" + step.state);
    item.dataset.step = step.step;
    const detail = el("span", "detail", stepDetail(step));
    if ((step.state === "due" || step.state === "stalled") && step.due) {
      detail.dataset.due = step.due;
      detail.dataset.tick = step.state;
    }
    item.append(badge("state", STATES, step.state), el("span", "name", step.step), detail);
    if (step.owner) item.append(el("span", "owner", step.owner));
    return item;
  }

  function rolloutHref(expectation, rollout) {
    return "/rollouts/" + encodeURIComponent(expectation) + "/" + encodeURIComponent(rollout);
  }

  function apiHref(expectation, rollout) {
    return "/api/v1/rollouts/" + encodeURIComponent(expectation) + "/"
      + encodeURIComponent(rollout);
  }

  function renderSteps(list, summary) {
    const steps = summary.steps.concat(summary.compensation ? [summary.compensation] : []);
    list.replaceChildren(...steps.map(renderStep));
  }

  function renderRow(summary) {
    const row = el("article", "rollout" + (summary.problems.length ? " has-problem" : ""));
    row.dataset.expectation = summary.expectation;
    row.dataset.rollout = summary.rollout;
    row.dataset.phase = summary.phase;
    row.dataset.problems = summary.problems.join(",");
    const head = el("div", "rollout-head");
    const key = el("a", "key", summary.rollout);
    key.href = rolloutHref(summary.expectation, summary.rollout);
    head.append(key, badge("phase", PHASES, summary.phase));
    for (const kind of summary.problems) head.append(badge("problem", PROBLEMS, kind));
    const opened = el("span", "opened", "opened ");
    opened.append(timeTag(summary.opened_at));
    head.append(opened);
    const list = el("ol", "steps");
    renderSteps(list, summary);
    row.append(head, list);
    return row;
  }

  function rows(expectation, rollout) {
    return Array.from(document.querySelectorAll("article.rollout")).filter(
      (row) => row.dataset.expectation === expectation && row.dataset.rollout === rollout);
  }

  function tick() {
    for (const node of document.querySelectorAll("[data-tick]")) {
      node.textContent = tickText(node.dataset.tick, node.dataset.due);
    }
    const clock = document.getElementById("clock");
    if (clock) clock.textContent = new Date(now()).toISOString().slice(11, 19);
  }

  // ---- the board ------------------------------------------------------------------------

  function filters() {
    const form = document.getElementById("filters");
    const data = form ? new FormData(form) : new FormData();
    return {
      expectation: data.get("expectation") || "",
      owner: data.get("owner") || "",
      problem: data.get("problem") === "true",
      search: String(data.get("q") || "").trim().toLowerCase(),
    };
  }

  function owners(summary) {
    const all = [summary.owner].concat(summary.steps.map((step) => step.owner));
    if (summary.compensation) all.push(summary.compensation.owner);
    return all.filter(Boolean);
  }

  function admits(summary, wanted) {
    return (!wanted.expectation || summary.expectation === wanted.expectation)
      && (!wanted.owner || owners(summary).includes(wanted.owner))
      && (!wanted.problem || summary.problems.length > 0);
  }

  function groupFor(expectation) {
    let group = Array.from(document.querySelectorAll("section.group")).find(
      (section) => section.dataset.expectation === expectation);
    if (!group) {
      group = el("section", "group");
      group.dataset.expectation = expectation;
      group.append(el("h2", "", expectation), el("div", "rollouts"));
      document.getElementById("groups").append(group);
    }
    return group;
  }

  function placeRow(summary, flash) {
    const fresh = renderRow(summary);
    const old = rows(summary.expectation, summary.rollout);
    const wanted = filters();
    const closed = summary.phase === "completed" || summary.phase === "rolled_back";
    if (old.length) {
      old.forEach((row) => row.replaceWith(fresh.cloneNode(true)));
    } else if (!closed && admits(summary, wanted)) {
      const group = groupFor(summary.expectation);
      const empty = group.querySelector(":scope > p.empty");
      if (empty) empty.remove();
      group.querySelector(".rollouts").prepend(fresh);
    }
    for (const row of rows(summary.expectation, summary.rollout)) {
      row.hidden = Boolean(wanted.search)
        && !summary.rollout.toLowerCase().includes(wanted.search);
      if (flash) row.classList.add("flash");
    }
    placeAttention(summary);
  }

  // The "Needs attention" list follows the rows: an entry while the rollout has a problem.
  function placeAttention(summary) {
    const section = document.getElementById("attention");
    if (!section) return;
    let list = section.querySelector("ul.attention-list");
    const entries = list ? Array.from(list.children) : [];
    entries.filter((item) => item.dataset.expectation === summary.expectation
      && item.dataset.rollout === summary.rollout).forEach((item) => item.remove());
    if (summary.problems.length && admits(summary, filters())) {
      if (!list) {
        list = el("ul", "attention-list");
        const calm = section.querySelector("p.ok");
        if (calm) calm.remove();
        section.append(list);
      }
      list.prepend(renderAttention(summary));
    }
    const count = list ? list.children.length : 0;
    section.classList.toggle("calm", count === 0);
    const counter = section.querySelector(".count");
    if (counter) counter.textContent = String(count);
  }

  function renderAttention(summary) {
    const item = el("li");
    item.dataset.expectation = summary.expectation;
    item.dataset.rollout = summary.rollout;
    const link = el("a", "", summary.expectation + " / ");
    link.href = rolloutHref(summary.expectation, summary.rollout);
    link.append(el("span", "key", summary.rollout));
    item.append(link);
    for (const kind of summary.problems) item.append(badge("problem", PROBLEMS, kind));
    item.append(el("span", "why", why(summary)));
    return item;
  }

  function why(summary) {
    const steps = summary.steps.concat(summary.compensation ? [summary.compensation] : []);
    const stalled = steps.find((step) => step.state === "stalled");
    if (stalled) {
      const late = stalled.due ? " overdue " + shortDuration(now() - Date.parse(stalled.due))
        : " stalled";
      return stalled.step + late + (stalled.owner ? ", " + stalled.owner : "");
    }
    if (summary.phase === "rolling_back" && summary.compensation) {
      return "waiting for " + summary.compensation.step;
    }
    return "deadline passed";
  }

  function forget(row) {
    placeAttention({ expectation: row.dataset.expectation, rollout: row.dataset.rollout,
      problems: [] });
    row.remove();
  }

  function signature(summary) {
    const steps = summary.steps.concat(summary.compensation ? [summary.compensation] : []);
    return [summary.phase, summary.problems.join(","),
      steps.map((step) => step.state + ":" + step.step).join(",")].join("|");
  }

  function rowSignature(row) {
    const steps = Array.from(row.querySelectorAll("li.step")).map(
      (item) => item.className.replace("step state-", "") + ":" + item.dataset.step);
    return [row.dataset.phase, row.dataset.problems, steps.join(",")].join("|");
  }

  async function refreshRollout(expectation, rollout) {
    const answer = await fetch(apiHref(expectation, rollout), { headers: { Accept: "application/json" } });
    if (answer.status === 404) {
      rows(expectation, rollout).forEach(forget);
      return;
    }
    if (!answer.ok) return;
    const full = await answer.json();
    if (body.dataset.page === "rollout") {
      rows(expectation, rollout).forEach((row) => renderSteps(row.querySelector(".steps"), full));
      refreshGraph(full);
    } else {
      placeRow(full, true);
    }
  }

  function nodeStatus(step) {
    const [symbol, word] = STATES[step.state] || ["•", step.state];
    if (step.seen_at) return symbol + " " + word + " " + clockText(step.seen_at);
    if (step.state === "stalled" && step.due) return symbol + " " + word + " since " + clockText(step.due);
    if (step.state === "due" && step.due) return symbol + " " + word + " by " + clockText(step.due);
    return symbol + " " + word;
  }

  function refreshGraph(full) {
    const steps = full.steps.concat(full.compensation ? [full.compensation] : []);
    for (const node of document.querySelectorAll("svg.graph g.node")) {
      const step = steps.find((candidate) => candidate.step === node.dataset.step);
      if (!step) continue;
      node.setAttribute("class", "node state-" + step.state);
      const label = node.querySelector(".node-state");
      if (label) label.textContent = nodeStatus(step);
    }
  }

  function addFinding(finding) {
    const list = document.getElementById("findings");
    if (!list) return;
    const tone = GOOD.has(finding.kind) ? "good" : "problem";
    const item = el("li", "finding " + tone + " kind-" + finding.kind);
    item.append(timeTag(finding.at));
    const mark = el("span", "badge kind-" + tone);
    const sym = el("span", "sym", tone === "good" ? "✓" : "⚠");
    sym.setAttribute("aria-hidden", "true");
    mark.append(sym, " " + finding.kind.replace(/_/g, " "));
    item.append(mark);
    if (finding.expectation && finding.rollout) {
      const where = el("a", "where", finding.expectation + " / " + finding.rollout);
      where.href = rolloutHref(finding.expectation, finding.rollout);
      item.append(where);
    } else if (finding.expectation) {
      item.append(el("span", "where", finding.expectation));
    }
    item.append(el("span", "what", describe(finding)));
    if (finding.owner) item.append(el("span", "owner", finding.owner));
    const empty = list.querySelector("li.empty");
    if (empty) empty.remove();
    list.prepend(item);
    while (list.children.length > RECENT) list.lastElementChild.remove();
  }

  function describe(finding) {
    const step = finding.step || "";
    switch (finding.kind) {
      case "stall":
        return step + " not seen" + (finding.deadline ? ", due " + clockText(finding.deadline) : "");
      case "recovered": return step + " arrived after its stall";
      case "out_of_order": return step + " seen before " + (finding.missing || []).join(", ");
      case "deadline_exceeded": return "the rollout's deadline passed before it completed";
      case "rollback": return (finding.event_type || "a trigger") + " started a rollback";
      case "completed": return "completed in " + shortDuration((finding.duration_s || 0) * 1000);
      case "rolled_back": return "rolled back in " + shortDuration((finding.duration_s || 0) * 1000);
      case "schema_violation":
        return (finding.event_type || "") + ": " + (finding.errors || []).join("; ");
      default: return String(finding.reason || finding.event_type || "");
    }
  }

  // Rollouts open without a finding: a periodic look at the list brings the new ones in.
  async function resync() {
    const wanted = filters();
    const query = new URLSearchParams({ phase: "open" });
    if (wanted.expectation) query.set("expectation", wanted.expectation);
    if (wanted.owner) query.set("owner", wanted.owner);
    if (wanted.problem) query.set("problem", "true");
    const answer = await fetch("/api/v1/rollouts?" + query, { headers: { Accept: "application/json" } });
    if (!answer.ok) return;
    const list = await answer.json();
    const fresh = Date.parse(list.clock);
    if (!Number.isNaN(fresh)) offset = fresh - Date.now();
    const known = new Set(list.rollouts.map((s) => s.expectation + "\u001f" + s.rollout));
    for (const row of document.querySelectorAll("#groups article.rollout")) {
      if (!known.has(row.dataset.expectation + "\u001f" + row.dataset.rollout)) forget(row);
    }
    for (const summary of list.rollouts) {
      const old = rows(summary.expectation, summary.rollout)[0];
      if (!old || rowSignature(old) !== signature(summary)) placeRow(summary, false);
    }
  }

  function listen() {
    const live = document.getElementById("live");
    const show = (state, symbol, word) => {
      if (!live) return;
      live.dataset.state = state;
      const sym = el("span", "", symbol);
      sym.setAttribute("aria-hidden", "true");
      live.replaceChildren(sym, " " + word);
    };
    const stream = new EventSource("/api/v1/stream");
    stream.addEventListener("open", () => show("live", "●", "live"));
    stream.addEventListener("error", () => show("lost", "✕", "reconnecting"));
    stream.addEventListener("finding", (message) => {
      let finding;
      try { finding = JSON.parse(message.data); } catch (error) { return; }
      const page = body.dataset.page;
      if (page === "board") addFinding(finding);
      if (!finding.expectation || !finding.rollout) return;
      const single = document.querySelector("article.rollout.single");
      if (page === "rollout" && !(single && single.dataset.expectation === finding.expectation
        && single.dataset.rollout === finding.rollout)) return;
      refreshRollout(finding.expectation, finding.rollout).catch(() => {});
    });
  }

  function searchAsYouType() {
    const search = document.getElementById("search");
    if (!search) return;
    search.addEventListener("input", () => {
      const wanted = search.value.trim().toLowerCase();
      for (const row of document.querySelectorAll("#groups article.rollout")) {
        row.hidden = Boolean(wanted) && !row.dataset.rollout.toLowerCase().includes(wanted);
      }
    });
  }

  tick();
  setInterval(tick, 1000);
  searchAsYouType();
  listen();
  if (body.dataset.page === "board") setInterval(() => resync().catch(() => {}), RESYNC_MS);
})();
