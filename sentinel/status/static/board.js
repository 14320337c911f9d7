// Keeps the board and the rollout page live: ticks countdowns every second; on each finding
// from /api/v1/stream re-fetches the rollout it names and redraws it, on each `rollout` event
// redraws the row from the summary it carries, on `resync` (or a reconnection) re-reads the
// list (render.js builds the pieces).
"use strict";

(function () {
  const {
    setClock, now, el, tickText, renderSteps, renderRow, renderAttention, renderFinding,
    nodeStatus, apiHref, actedKey,
  } = window.sentinelRender;
  const body = document.body;
  const RECENT = 50;
  const RESYNC_MS = 30000;
  const RESYNC_AT_MOST_MS = 3000;

  function rows(expectation, rollout) {
    return Array.from(document.querySelectorAll("article.rollout")).filter(
      (row) => row.dataset.expectation === expectation && row.dataset.rollout === rollout);
  }

  function tick() {
    for (const node of document.querySelectorAll("[data-tick]")) {
      node.textContent = tickText(node.dataset.tick, node.dataset.due);
    }
    // A snooze that has ended says nothing more (render.js, acted).
    for (const node of document.querySelectorAll(".acted[data-until]")) {
      if (Date.parse(node.dataset.until) <= now()) node.remove();
    }
    const clock = document.getElementById("clock");
    if (clock) clock.textContent = new Date(now()).toISOString().slice(11, 19);
  }

  // ---- the board ------------------------------------------------------------------------

  function filters() {
    const form = document.getElementById("filters");
    const data = form ? new FormData(form) : new FormData();
    return {
      phase: data.get("phase") === "closed" ? "closed" : "open",
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

  function isClosed(summary) {
    return summary.phase === "completed" || summary.phase === "rolled_back"
      || summary.phase === "abandoned";
  }

  function admits(summary, wanted) {
    return isClosed(summary) === (wanted.phase === "closed")
      && (!wanted.expectation || summary.expectation === wanted.expectation)
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

  // The page the board shows: the cursor it starts after ("" on the first) and its size.
  function shownPage() {
    const groups = document.getElementById("groups");
    return {
      after: groups ? groups.dataset.after || "" : "",
      limit: groups ? groups.dataset.limit || "" : "",
      search: groups ? groups.dataset.q || "" : "",  // as served, not as being typed
    };
  }

  function placeRow(summary, flash) {
    const fresh = renderRow(summary);
    const old = rows(summary.expectation, summary.rollout);
    const wanted = filters();
    if (old.length) {
      old.forEach((row) => row.replaceWith(fresh.cloneNode(true)));
    } else if (admits(summary, wanted) && !shownPage().after) {
      // A rollout new to the board joins the first page; a later page changes only its rows
      // (the periodic look at the list puts every row on its page).
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
    if (rows(summary.expectation, summary.rollout).length) placeAttention(summary);
    recount();
  }

  // The counts the page was served with, kept right as rows come, change phase and go.
  function recount() {
    const closedView = filters().phase === "closed";
    let shown = 0;
    for (const group of document.querySelectorAll("section.group")) {
      const inView = Array.from(group.querySelectorAll("article.rollout")).filter(
        (row) => isClosed(row.dataset) === closedView);
      shown += inView.length;
      const counts = group.querySelector(".counts");
      if (!counts) continue;
      const problems = inView.filter((row) => row.dataset.problems).length;
      counts.textContent = closedView ? inView.length + " closed"
        : inView.length + " open, " + problems + " with problems";
    }
    const total = document.querySelector("#attention .count-shown");
    if (total) total.textContent = String(shown);
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

  function forget(row) {
    placeAttention({ expectation: row.dataset.expectation, rollout: row.dataset.rollout,
      problems: [] });
    row.remove();
    recount();
  }

  function signature(summary) {
    const steps = summary.steps.concat(summary.compensation ? [summary.compensation] : []);
    return [summary.phase, summary.problems.join(","),
      steps.map((step) => step.state + ":" + step.step).join(","), actedKey(summary)].join("|");
  }

  function rowSignature(row) {
    const steps = Array.from(row.querySelectorAll("li.step")).map(
      (item) => item.className.replace("step state-", "") + ":" + item.dataset.step);
    return [row.dataset.phase, row.dataset.problems, steps.join(","), row.dataset.acted || "|"]
      .join("|");
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
      if (window.sentinelActions) window.sentinelActions.show(full);  // actions.js
    } else {
      placeRow(full, true);
    }
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
    const empty = list.querySelector("li.empty");
    if (empty) empty.remove();
    list.prepend(renderFinding(finding));
    while (list.children.length > RECENT) list.lastElementChild.remove();
  }

  // Rollouts open without a finding: a periodic look at the list brings the new ones in.
  async function resync() {
    const wanted = filters();
    const page = shownPage();
    const query = new URLSearchParams({ phase: wanted.phase });
    if (page.limit) query.set("limit", page.limit);
    if (page.after) query.set("after", page.after);
    if (wanted.expectation) query.set("expectation", wanted.expectation);
    if (wanted.owner) query.set("owner", wanted.owner);
    if (wanted.problem) query.set("problem", "true");
    if (page.search) query.set("q", page.search);
    const answer = await fetch("/api/v1/rollouts?" + query, { headers: { Accept: "application/json" } });
    if (!answer.ok) return;
    const list = await answer.json();
    setClock(list.clock);
    const total = document.querySelector("#attention .count-total");
    if (total && typeof list.total === "number") total.textContent = list.total.toLocaleString("en");
    const known = new Set(list.rollouts.map((s) => s.expectation + "\u001f" + s.rollout));
    for (const row of document.querySelectorAll("#groups article.rollout")) {
      if (!known.has(row.dataset.expectation + "\u001f" + row.dataset.rollout)) forget(row);
    }
    for (const summary of list.rollouts) {
      const old = rows(summary.expectation, summary.rollout)[0];
      if (!old || rowSignature(old) !== signature(summary)) placeRow(summary, false);
    }
  }

  // A burst of changes asks for the whole list: once, however many ask within a few seconds.
  let resyncQueued = false;
  function resyncSoon() {
    if (resyncQueued || body.dataset.page !== "board") return;
    resyncQueued = true;
    setTimeout(() => {
      resyncQueued = false;
      resync().catch(() => {});
    }, RESYNC_AT_MOST_MS);
  }

  function showsRollout(expectation, rollout) {
    if (body.dataset.page !== "rollout") return true;
    const single = document.querySelector("article.rollout.single");
    return Boolean(single) && single.dataset.expectation === expectation
      && single.dataset.rollout === rollout;
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
    let lost = false;
    stream.addEventListener("open", () => {
      show("live", "●", "live");
      if (lost) resyncSoon();  // what happened while the stream was down
      lost = false;
    });
    stream.addEventListener("error", () => {
      lost = true;
      show("lost", "✕", "reconnecting");
    });
    stream.addEventListener("finding", (message) => {
      let finding;
      try { finding = JSON.parse(message.data); } catch (error) { return; }
      if (body.dataset.page === "board") addFinding(finding);
      if (!finding.expectation || !finding.rollout) return;
      if (!showsRollout(finding.expectation, finding.rollout)) return;
      refreshRollout(finding.expectation, finding.rollout).catch(() => {});
    });
    // A rollout changed without a finding (a step seen, a rollout opened): its new summary.
    stream.addEventListener("rollout", (message) => {
      let summary;
      try { summary = JSON.parse(message.data); } catch (error) { return; }
      if (!summary || !Array.isArray(summary.steps)) return;
      if (body.dataset.page === "board") {
        placeRow(summary, false);
      } else if (showsRollout(summary.expectation, summary.rollout)) {
        refreshRollout(summary.expectation, summary.rollout).catch(() => {});
      }
    });
    stream.addEventListener("resync", resyncSoon);
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
