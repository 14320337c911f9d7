// The rollout page's actions (contract section 14, "From the board"). An operator's buttons
// POST, as JSON on this same origin with the page's token (the X-Sentinel-Token header; the
// page carries it as the #actions section's data-token, made for the user and the browser's
// session) and the session cookie the board set, to the rollout's actions route; the
// answer redraws the history, and a refusal is said in plain words. Everyone's page redraws
// the history when the rollout changes (board.js calls `show`). Built with DOM calls only, as
// render.js: a note and a user name are text, never markup.
"use strict";

window.sentinelActions = (function () {
  const section = document.getElementById("actions");
  if (!section) return null;
  const { el, timeTag, acted, apiHref } = window.sentinelRender;
  // verb -> [symbol, word]: the server's (sentinel/status/actions_view.py, VERBS).
  const VERBS = {
    acknowledge: ["☑", "acknowledged"], snooze: ["☾", "snoozed"],
    note: ["✎", "note"], abandon: ["✕", "abandoned"],
  };
  // What each status means to the person who clicked; the answer's `error` says the rest.
  const REFUSED = {
    400: "Not taken", 401: "Sign in again", 403: "Refused", 404: "No such rollout",
    409: "Not taken now", 413: "Too long", 503: "Not taken, try again",
  };
  const DONE = {
    acknowledge: "Acknowledged: its open problems are not told again.",
    snooze: "Snoozed.", note: "Note added.", abandon: "Abandoned: the rollout is closed.",
  };

  function renderAction(action) {
    const verb = String(action.verb || "");
    const [symbol, word] = VERBS[verb] || ["•", verb.replace(/_/g, " ")];
    const item = el("li", "action verb-" + verb);
    item.append(timeTag(action.at));
    const mark = el("span", "badge verb");
    const sym = el("span", "sym", symbol);
    sym.setAttribute("aria-hidden", "true");
    mark.append(sym, " " + word);
    item.append(mark, el("span", "by", "by " + (action.by || "-")
      + (action.via ? " via " + action.via : "")));
    if (action.until) {
      const until = el("span", "until", "until ");
      until.append(timeTag(action.until));
      item.append(until);
    }
    if (action.note) item.append(el("q", "note", String(action.note)));
    return item;
  }

  function showActions(actions) {
    const list = document.getElementById("action-list");
    if (!list || !Array.isArray(actions)) return;
    if (!actions.length) {
      list.replaceChildren(el("li", "empty", "Nobody has acted on this rollout yet."));
    } else {
      list.replaceChildren(...actions.map(renderAction));
    }
  }

  // The full rollout (the API's): its history and what the facts say of it.
  function show(full) {
    if (!full || full.expectation !== section.dataset.expectation
      || full.rollout !== section.dataset.rollout) return;
    showActions(full.actions || []);
    const now = document.getElementById("acted-now");
    if (now) now.replaceChildren(...acted(full));
  }

  const token = section.dataset.token;
  const controls = document.getElementById("act");
  if (token && controls) {
    const status = document.getElementById("act-status");
    const noteField = document.getElementById("act-note");
    const whyField = document.getElementById("act-why");
    const buttons = Array.from(controls.querySelectorAll("button[data-verb]"));

    const say = (kind, text) => {
      status.dataset.kind = kind;
      status.textContent = text;
    };
    const enable = (on) => buttons.forEach((button) => { button.disabled = !on; });

    async function act(button) {
      const verb = button.dataset.verb;
      const ask = { verb };
      if (button.dataset.for) ask.for = button.dataset.for;
      if (verb === "note" || verb === "abandon") {
        const field = verb === "note" ? noteField : whyField;
        const text = field.value.trim();
        if (!text) {
          say("error", verb === "note" ? "Write the note first."
            : "Say why the rollout is abandoned first.");
          field.focus();
          return;
        }
        ask.note = text;
      }
      enable(false);
      say("busy", "Sending…");
      let answer;
      let body = null;
      try {
        answer = await fetch(section.dataset.href, {
          method: "POST",
          credentials: "same-origin",
          headers: {
            "Content-Type": "application/json", Accept: "application/json",
            "X-Sentinel-Token": token,
          },
          body: JSON.stringify(ask),
        });
        body = await answer.json().catch(() => null);
      } catch (error) {
        say("error", "The sentinel did not answer: nothing was changed. Try again.");
        enable(true);
        return;
      }
      if (!answer.ok) {
        const why = body && typeof body.error === "string" ? body.error : answer.statusText;
        say("error", (REFUSED[answer.status] || "Failed (" + answer.status + ")") + ": " + why);
        enable(true);
        return;
      }
      const actions = Array.isArray(body) ? body : body && body.actions;
      showActions(actions);
      if (verb === "abandon") {
        // Closed now: the page shows it as the history does, without the buttons.
        say("ok", DONE.abandon);
        window.location.reload();
        return;
      }
      if (verb === "note") noteField.value = "";
      say("ok", DONE[verb] || "Done.");
      enable(true);
      const again = await fetch(apiHref(section.dataset.expectation, section.dataset.rollout),
        { headers: { Accept: "application/json" } }).catch(() => null);
      if (again && again.ok) show(await again.json());
    }

    for (const button of buttons) {
      button.addEventListener("click", () => { act(button).catch(() => enable(true)); });
    }
  }

  return Object.freeze({ show });
})();
