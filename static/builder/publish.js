// Publishing with care (issue 15 item 4): before anything goes live the author reviews what
// changes from the live version, highlighted on the canvas and listed in words. A program that
// requires a second person turns "Publish" into "Request publish"; someone else approves or
// rejects the request here (the server refuses the requester: four_eyes_violation).
import { items } from "./api.js";
import { canonical } from "./convert.js";
import { definitionDiff } from "./diff.js";
import * as G from "./graph.js";
import { el } from "./panel.js";

const STATUS_WORDS = {
  pending: "waiting for approval",
  approved: "approved and published",
  rejected: "rejected",
  superseded: "replaced by a newer request",
};

function when(iso) {
  return iso ? `${String(iso).slice(0, 16).replace("T", " ")} UTC` : "";
}

function who(actor) {
  return String(actor || "").replace(/^user:/, "");
}

export function createPublish(ctx) {
  const { api, cfg, graph, say, sayError } = ctx;
  const $ = (id) => document.getElementById(id);
  const state = { reviewing: false, diff: null, requests: [], failing: null };

  const liveVersion = () => {
    const rule = ctx.rule();
    if (!rule?.active_version) return null;
    const wanted = (v) => v?.version === rule.active_version;
    return ctx.versions().find(wanted) || (state.live?.version === rule.active_version ? state.live : null);
  };

  /** The live version's definition, paging through the versions when it is an old one. */
  async function loadLive() {
    const rule = ctx.rule();
    if (!rule?.active_version || liveVersion()) return;
    let path = `rules/${rule.id}/versions?limit=500`;
    for (let pages = 0; path && pages < 20; pages++) {
      const page = await api.get(path);
      const hit = items(page).find((v) => v.version === rule.active_version);
      if (hit) {
        state.live = hit;
        return;
      }
      const next = typeof page?.next === "string" ? page.next : "";
      const at = next.indexOf(cfg.apiBase);
      path = at >= 0 ? next.slice(at + cfg.apiBase.length) : null;
    }
  }

  /** The label of the toolbar button: what a click does in this program. */
  function buttonLabel() {
    return cfg.requiresApproval ? "Request publish" : "Publish";
  }

  function highlight() {
    if (!state.reviewing || !state.diff) return;
    const removed = state.diff.changes.filter((c) => c.status === "removed");
    G.highlightDiff?.(graph, state.diff.statusByPath, { removed });
  }

  /** Recomputes the diff (live version -> canvas) and repaints; called on every canvas change
   * while the review is open. */
  function update() {
    if (!state.reviewing) return;
    const live = liveVersion();
    if (ctx.rule()?.active_version && !live) {
      renderMissingLive();
      return;
    }
    const catalog = ctx.catalog();
    const moneyPaths = catalog?.triggers?.[ctx.definition().trigger]?.money || [];
    const before = state.diff ? JSON.stringify(state.diff.statusByPath) : null;
    state.diff = definitionDiff(live ? live.definition : null, ctx.definition(), {
      currency: cfg.currency,
      moneyPaths,
      actionTypes: catalog?.actions || [],
    });
    renderChanges(live);
    renderActions();
    // Repaint only when what is highlighted changes (painting opens collapsed groups).
    // An edit clears the outlines (graph.js): paint again then too.
    const painted = graph.getNodes().some((n) => n.attr("halo/data-diff"));
    const wanted = Object.keys(state.diff.statusByPath).length > 0;
    if (JSON.stringify(state.diff.statusByPath) !== before || (wanted && !painted)) highlight();
  }

  function renderMissingLive() {
    const box = $("publish-changes");
    box.replaceChildren(el("p", { class: "warning", text: `The live version v${ctx.rule().active_version} could not be loaded, so the changes cannot be shown.` }));
    renderActions();
  }

  function renderChanges(live) {
    const box = $("publish-changes");
    box.replaceChildren();
    const rule = ctx.rule();
    const pending = state.requests.find((r) => r.status === "pending");
    if (pending && pending.version !== rule.version) {
      box.append(el("p", { class: "warning", text: `The waiting request is for v${pending.version}; the canvas shows v${rule.version}. Load v${pending.version} from Versions to review exactly what it publishes.` }));
    }
    box.append(
      el("p", {
        class: "hint",
        text: live
          ? `Changes from the live version v${live.version} to what the canvas shows (v${rule.version}${ctx.dirty() ? ", with unsaved changes" : ""}):`
          : "Nothing of this rule is live yet: everything below goes live.",
      }),
    );
    if (state.diff.same) {
      box.append(el("p", { class: "ok", text: "No changes: the canvas is the live version." }));
      return;
    }
    const legend = el(
      "p",
      { class: "legend" },
      el("span", { class: "chip chip-added", text: "added" }),
      el("span", { class: "chip chip-changed", text: "changed" }),
      el("span", { class: "chip chip-removed", text: "removed" }),
    );
    const ul = el("ul", { class: "changes", id: "change-list" });
    for (const change of state.diff.changes) {
      ul.append(el("li", { class: `change change-${change.status}`, "data-path": change.path, text: change.text }));
    }
    box.append(legend, ul);
  }

  function renderActions() {
    const rule = ctx.rule();
    const box = $("publish-actions");
    box.replaceChildren();
    if (!rule) return;
    const pending = state.requests.find((r) => r.status === "pending");
    if (!cfg.canPublish) {
      box.append(el("p", { class: "hint", text: "You may review changes, but publishing needs the permission to change rules." }));
      return;
    }
    if (ctx.dirty()) {
      box.append(el("p", { class: "warning", text: "Save your changes first: only a saved version can go live." }));
      return;
    }
    if (rule.active_version === rule.version) {
      box.append(el("p", { class: "ok", text: `v${rule.version} is live.` }));
      return;
    }
    if (pending && pending.version === rule.version) {
      box.append(el("p", { class: "hint", text: `v${rule.version} is already waiting for approval.` }));
      return;
    }
    const label = cfg.requiresApproval ? `Ask a second person to publish v${rule.version}` : `Publish v${rule.version} now`;
    box.append(el("button", { type: "button", class: "primary", id: "confirm-publish", text: label, onclick: () => confirm() }));
    if (cfg.requiresApproval) {
      box.append(el("p", { class: "hint", text: "This program needs two people to publish: someone other than you approves the request." }));
    }
  }

  function renderRequests() {
    const box = $("publish-requests");
    box.replaceChildren();
    const list = state.requests.slice(0, 5);
    if (!list.length) return;
    box.append(el("h4", { text: "Publish requests" }));
    for (const r of list) {
      const mine = r.requested_by === cfg.actor;
      const item = el(
        "div",
        { class: `request request-${r.status}`, "data-request": String(r.id) },
        el("p", {}, el("strong", { text: `v${r.version}: ${STATUS_WORDS[r.status] || r.status}` })),
        el("p", { class: "hint", text: `Asked by ${who(r.requested_by)} · ${when(r.created_at)}` }),
      );
      if (r.decided_by) {
        item.append(el("p", { class: "hint", text: `${r.status === "rejected" ? "Rejected" : "Decided"} by ${who(r.decided_by)} · ${when(r.decided_at)}${r.reason ? `: ${r.reason}` : ""}` }));
      }
      if (r.status === "pending" && cfg.canPublish) {
        const approve = el("button", { type: "button", class: "primary", name: "approve", text: `Approve and publish v${r.version}`, disabled: mine || !cfg.canApprove, onclick: () => decide(r, "approve") });
        const reason = el("input", { type: "text", name: "reject-reason", placeholder: "Why not? (shown to the requester)", "aria-label": "Reason for rejecting" });
        const reject = el("button", { type: "button", name: "reject", text: "Reject", onclick: () => decide(r, "reject", reason.value) });
        item.append(el("div", { class: "row wrap" }, approve, reject));
        if (mine) item.append(el("p", { class: "hint four-eyes", text: "You asked for this, so someone else must approve it (two-person rule). You can still reject it." }));
        else if (!cfg.canApprove) item.append(el("p", { class: "hint four-eyes", text: "Approving needs the permission to approve publish requests; ask a rule author who has it." }));
        item.append(el("label", { class: "field" }, el("span", { class: "label", text: "Reason for rejecting" }), reason));
      }
      box.append(item);
    }
  }

  async function loadRequests() {
    const rule = ctx.rule();
    state.requests = [];
    if (rule) {
      try {
        state.requests = items(await api.get(`rules/${rule.id}/publish-requests`));
      } catch (error) {
        // Before two-person publishing is set up on the server the list is simply not there.
        if (error.status !== 404) say(`Publish requests unavailable: ${error.message}`, "error");
      }
    }
    renderRequests();
    renderActions();
    const pending = state.requests.find((r) => r.status === "pending");
    const status = $("publish-state");
    status.textContent = pending ? `v${pending.version} waiting for approval (asked by ${who(pending.requested_by)})` : "";
    status.hidden = !pending;
    return pending;
  }

  /** The toolbar's Publish / Request publish: opens the review, nothing goes live yet. */
  async function review() {
    const rule = ctx.rule();
    if (!rule) return;
    state.reviewing = true;
    $("publish-section").open = true;
    $("publish-section").scrollIntoView({ block: "nearest" });
    await loadRequests();
    try {
      await loadLive();
    } catch (error) {
      sayError(error);
    }
    update();
    if (ctx.dirty()) say("Review the changes; save them before publishing.", "info", () => ctx.dirty());
    else say("Review the changes highlighted on the canvas, then confirm.");
  }

  /** On opening a rule that waits for someone else's approval, show that person the review. */
  async function reviewIfWaitingForMe() {
    const pending = state.requests.find((r) => r.status === "pending");
    if (pending && pending.requested_by !== cfg.actor && cfg.canApprove && !state.reviewing) {
      await review();
      say(`v${pending.version} waits for your approval: its changes are highlighted on the canvas.`);
    }
  }

  function close() {
    state.reviewing = false;
    state.diff = null;
    G.clearHighlights?.(graph);
    $("publish-changes").replaceChildren();
  }

  function showFailing(error) {
    const failing = error.body?.scenarios || [];
    if (!failing.length) return false;
    const box = $("publish-changes");
    box.prepend(
      el("div", { class: "failing" }, el("p", { class: "no", text: "Publishing waits: these scenarios fail on this version." }),
        el("ul", {}, failing.map((r) => el("li", { text: `${r.name}: ${r.message || "failed"}` })))),
    );
    return true;
  }

  async function confirm() {
    const rule = ctx.rule();
    if (!rule || ctx.dirty()) return;
    try {
      const data = await api.post(`rules/${rule.id}/publish`, { version: rule.version });
      if (data && data.publish_request) {
        say(`Asked for approval: v${data.publish_request.version} goes live once a second person approves it.`, "ok");
        await loadRequests();
      } else {
        await ctx.afterSave(data, `Version ${data.active_version} is now live.`);
        await loadRequests();
        update();
      }
    } catch (error) {
      sayError(error);
      showFailing(error);
    }
  }

  async function decide(request, verdict, reason = "") {
    const rule = ctx.rule();
    if (verdict === "reject" && !reason.trim()) {
      say("Say why you reject it: the reason is shown to the person who asked.", "error");
      document.querySelector(`[data-request="${request.id}"] input[name=reject-reason]`)?.focus();
      return;
    }
    try {
      const path = `rules/${rule.id}/publish-requests/${request.id}/${verdict}`;
      const data = await api.post(path, verdict === "reject" ? { reason } : {});
      if (verdict === "approve") {
        await ctx.afterSave(data?.rule || data, `Approved: v${request.version} is now live.`);
      } else {
        say(`Rejected the request to publish v${request.version}.`, "ok");
      }
      await loadRequests();
      update();
    } catch (error) {
      sayError(error);
      if (verdict === "approve") showFailing(error);
    }
  }

  function refreshButton() {
    const button = $("publish");
    button.textContent = buttonLabel();
    button.title = cfg.requiresApproval
      ? "Review the changes and ask a second person to make the latest saved version live"
      : "Review the changes and make the latest saved version live";
  }

  $("close-review").addEventListener("click", () => {
    close();
    say("Review closed.");
  });
  refreshButton();
  return { review, reviewIfWaitingForMe, update, close, loadRequests, highlight, reviewing: () => state.reviewing };
}
