// How the board's pieces look, built with DOM calls from the API's JSON: the same structure
// as sentinel/status/markup.py writes on the server (change both together). Bus data only
// ever goes through textContent and attributes: it is never parsed as markup. What a finding
// kind is called comes from the server (sentinel/kinds.py): the page's `data-kinds`, and the
// `sentence` each finding of the stream carries; this script words no kind itself.
"use strict";

window.sentinelRender = (function () {
  const STATES = {
    seen: ["✓", "seen"], due: ["◷", "due"], stalled: ["⚠", "stalled"],
    pending: ["○", "pending"], cancelled: ["⊘", "cancelled"],
  };
  const PHASES = {
    open: ["●", "open"], rolling_back: ["↺", "rolling back"],
    completed: ["✓", "completed"], rolled_back: ["↩", "rolled back"],
    abandoned: ["⊘", "abandoned"],
  };
  // kind -> {symbol, word, good}, as the server words it.
  const KINDS = JSON.parse(document.body.dataset.kinds || "{}");
  const PROBLEMS = Object.fromEntries(
    Object.entries(KINDS).map(([kind, words]) => [kind, [words.symbol, words.word]]));

  // The sentinel's clock (event time in a replay, the wall clock live) minus the browser's.
  let offset = 0;
  function setClock(iso) {
    const parsed = Date.parse(iso);
    if (!Number.isNaN(parsed)) offset = parsed - Date.now();
  }
  setClock(document.body.dataset.clock);
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

  // A stalled step's first minute says when it was due, never "overdue 0s": the server's
  // words (board_words.overdue_text), as the alerts' (alert_words.OVERDUE_WORDS_AFTER).
  const NOTHING_SEEN_FOR_MS = 60000;

  function tickText(kind, due) {
    const left = Date.parse(due) - now();
    if (kind === "stalled") {
      return -left < NOTHING_SEEN_FOR_MS ? "due " + clockText(due) + ", nothing seen yet"
        : "overdue " + shortDuration(-left);
    }
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
    return "off the script (rolled back or abandoned)";
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

  // A link into the tracing UI in a new tab (the board stays live); only http(s), as the
  // server's trace_anchor: a value from elsewhere cannot make a `javascript:` link.
  function traceLink(url, text, label) {
    if (typeof url !== "string" || !/^https?:\/\//.test(url)) return null;
    const link = el("a", "trace-link", text);
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.setAttribute("aria-label", label);
    const arrow = el("span", "", " ↗");
    arrow.setAttribute("aria-hidden", "true");
    link.append(arrow);
    return link;
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

  // Who acknowledged an open rollout's problems, until when it is snoozed: the server's
  // words (markup.acted); a snooze that has ended says nothing.
  function acted(summary) {
    const nodes = [];
    const open = summary.phase === "open" || summary.phase === "rolling_back";
    const said = (name, symbol, words) => {
      const node = el("span", "acted " + name);
      const sym = el("span", "sym", symbol);
      sym.setAttribute("aria-hidden", "true");
      node.append(sym, " " + words);
      nodes.push(node);
      return node;
    };
    if (open && summary.acknowledged_by) said("acked", "☑", "ack by " + summary.acknowledged_by);
    const until = summary.snoozed_until;
    if (open && until && Date.parse(until) > now()) {
      said("snoozed", "☾", "snoozed until " + clockText(until)).dataset.until = until;
    }
    return nodes;
  }

  function actedKey(summary) {
    return (summary.acknowledged_by || "") + "|" + (summary.snoozed_until || "");
  }

  function renderRow(summary) {
    const row = el("article", "rollout" + (summary.problems.length ? " has-problem" : ""));
    row.dataset.expectation = summary.expectation;
    row.dataset.rollout = summary.rollout;
    row.dataset.phase = summary.phase;
    row.dataset.problems = summary.problems.join(",");
    row.dataset.acted = actedKey(summary);
    const head = el("div", "rollout-head");
    const key = el("a", "key", summary.rollout);
    key.href = rolloutHref(summary.expectation, summary.rollout);
    head.append(key, badge("phase", PHASES, summary.phase));
    for (const kind of summary.problems) head.append(badge("problem", PROBLEMS, kind));
    head.append(...acted(summary));
    const opened = el("span", "opened", "opened ");
    opened.append(timeTag(summary.opened_at));
    head.append(opened);
    const trace = traceLink(summary.trace_url, "trace", "Trace of " + summary.rollout);
    if (trace) head.append(trace);
    const list = el("ol", "steps");
    renderSteps(list, summary);
    row.append(head, list);
    return row;
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
    item.append(...acted(summary), why(summary));
    return item;
  }

  // The same words as the server's: a stalled step's "overdue" ticks with the countdowns.
  function why(summary) {
    const node = el("span", "why");
    const steps = summary.steps.concat(summary.compensation ? [summary.compensation] : []);
    const stalled = steps.find((step) => step.state === "stalled");
    if (stalled) {
      node.append(stalled.step + " ");
      if (stalled.due) {
        const late = el("span", "", tickText("stalled", stalled.due));
        late.dataset.tick = "stalled";
        late.dataset.due = stalled.due;
        node.append(late);
      } else {
        node.append("stalled");
      }
      if (stalled.owner) node.append(", " + stalled.owner);
    } else if (summary.phase === "rolling_back" && summary.compensation) {
      node.append("waiting for " + summary.compensation.step);
    } else {
      node.append("deadline passed");
    }
    return node;
  }

  function nodeStatus(step) {
    const [symbol, word] = STATES[step.state] || ["•", step.state];
    if (step.seen_at) return symbol + " " + word + " " + clockText(step.seen_at);
    if (step.state === "stalled" && step.due) return symbol + " " + word + " since " + clockText(step.due);
    if (step.state === "due" && step.due) return symbol + " " + word + " by " + clockText(step.due);
    return symbol + " " + word;
  }

  function renderFinding(finding) {
    // A kind this page was not served with (a newer peer's) shows its name, as a problem.
    const words = KINDS[finding.kind]
      || { symbol: "⚠", word: String(finding.kind).replace(/_/g, " "), good: false };
    const tone = words.good ? "good" : "problem";
    const item = el("li", "finding " + tone + " kind-" + finding.kind);
    item.append(timeTag(finding.at));
    const mark = el("span", "badge kind-" + tone);
    const sym = el("span", "sym", words.symbol);
    sym.setAttribute("aria-hidden", "true");
    mark.append(sym, " " + words.word);
    item.append(mark);
    if (finding.expectation && finding.rollout) {
      const where = el("a", "where", finding.expectation + " / " + finding.rollout);
      where.href = rolloutHref(finding.expectation, finding.rollout);
      item.append(where);
    } else if (finding.expectation) {
      item.append(el("span", "where", finding.expectation));
    }
    item.append(el("span", "what", String(finding.sentence || "")));
    if (finding.owner) item.append(el("span", "owner", finding.owner));
    return item;
  }

  return Object.freeze({
    setClock, now, el, tickText, renderSteps, renderRow, renderAttention, renderFinding,
    nodeStatus, apiHref, acted, actedKey, timeTag,
  });
})();
