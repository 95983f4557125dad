// What a rule did (issue 15 items 5 and 6): its matches and rewards over the last 30 days, and
// the recent events of its trigger with, for each, whether this rule paid and why (not).
import { items } from "./api.js";
import { el } from "./panel.js";
import { money } from "./scenarios.js";

const OUTCOME_WORDS = {
  matched: "matched",
  not_matched: "did not match",
  suppressed: "skipped: an earlier rule stopped the others",
  skipped: "not active then",
};

const STATUS_WORDS = {
  pending: "pending",
  confirmed: "confirmed",
  paid: "paid",
  cancelled: "cancelled",
  reversed: "reversed",
  held: "held for review",
};

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

/** This rule's entry in an event's results, in words ("" when the rule did not run on it). */
export function outcomeOf(event, ruleId) {
  const entry = (Array.isArray(event?.results) ? event.results : []).find((r) => r && r.rule === ruleId);
  if (!entry) return { key: "none", text: "not run (the rule was not live)" };
  const key = entry.outcome || (entry.matched ? "matched" : "not_matched");
  let text = OUTCOME_WORDS[key] || key;
  if (key === "matched" && Array.isArray(entry.rewards) && entry.rewards.length) text = `matched, ${entry.rewards.length} reward${entry.rewards.length > 1 ? "s" : ""}`;
  if (key === "suppressed" && entry.suppressed_by) text = `skipped: rule ${entry.suppressed_by} stopped the others`;
  if (key === "skipped" && entry.reason) text = entry.reason === "expired" ? "not active then (expired)" : "not active then (not started yet)";
  return { key, text };
}

export function createResults(ctx) {
  const { api, cfg, sayError } = ctx;
  const $ = (id) => document.getElementById(id);

  async function loadResults() {
    const box = $("rule-results");
    box.replaceChildren();
    const rule = ctx.rule();
    if (!rule) {
      box.append(el("p", { class: "hint", text: "Results appear once the rule is saved and live." }));
      return;
    }
    let data;
    try {
      data = await api.get(`rules/${rule.id}/results`);
    } catch (error) {
      box.append(el("p", { class: "hint", text: `Results unavailable: ${error.message}` }));
      return;
    }
    const currency = data.currency || cfg.currency;
    const totals = data.totals || {};
    const rewards = totals.rewards || {};
    box.append(
      el(
        "p",
        { class: "totals", id: "results-totals" },
        `Last 30 days: ${plural(totals.matches ?? 0, "match", "matches")}, ${plural(rewards.count ?? 0, "reward", "rewards")} worth `,
        el("span", { class: "amount", text: money(rewards.amount ?? 0, currency) }),
        ".",
      ),
    );
    const byStatus = Object.entries(rewards.by_status || {});
    if (byStatus.length) {
      const table = el("table", { class: "mini" }, el("tr", {}, ["Reward status", "Count", "Amount"].map((h) => el("th", { text: h }))));
      for (const [status, v] of byStatus) {
        table.append(el("tr", {}, el("td", { text: STATUS_WORDS[status] || status }), el("td", { text: String(v.count ?? 0) }), el("td", { text: money(v.amount ?? 0, currency) })));
      }
      box.append(table);
    }
    const series = (data.series || []).filter((d) => d.matches || d.rewards_count);
    if (series.length) {
      const peak = Math.max(...series.map((d) => d.matches || 0), 1);
      const chart = el("div", { class: "bars", role: "img", "aria-label": "Matches per day" });
      for (const d of series.slice(-14)) {
        const bar = el("span", { class: "bar" });
        bar.style.width = `${Math.max(4, Math.round((100 * (d.matches || 0)) / peak))}%`;
        chart.append(el("div", { class: "bar-row" }, el("span", { class: "bar-label", text: String(d.date).slice(5) }), bar,
          el("span", { class: "bar-value", text: `${d.matches} · ${money(d.rewards_amount ?? 0, currency)}` })));
      }
      box.append(chart);
    } else {
      box.append(el("p", { class: "hint", text: "No matches in the last 30 days." }));
    }
  }

  async function loadEvents() {
    const box = $("recent-outcomes");
    box.replaceChildren();
    const rule = ctx.rule();
    const trigger = ctx.definition().trigger || rule?.trigger;
    if (!rule || !trigger) {
      box.append(el("p", { class: "hint", text: "Save the rule to see how recent events went." }));
      return;
    }
    let events;
    try {
      events = items(await api.get(`events?limit=10&type=${encodeURIComponent(trigger)}`));
    } catch (error) {
      box.append(el("p", { class: "hint", text: `Recent events unavailable: ${error.message}` }));
      return;
    }
    if (!events.length) {
      box.append(el("p", { class: "hint", text: `No ${trigger} events yet.` }));
      return;
    }
    const ul = el("ul", { class: "event-outcomes" });
    for (const event of events) {
      const outcome = outcomeOf(event, rule.id);
      const why = el("div", { class: "why", hidden: true });
      const li = el(
        "li",
        { "data-event": event.id, class: `outcome-${outcome.key}` },
        el("div", {}, el("strong", { text: event.user }), ` · ${String(event.occurred_at).slice(0, 16).replace("T", " ")} · `, el("span", { class: "outcome", text: outcome.text })),
        el("button", { type: "button", class: "small", text: "Why?", "aria-label": `Why for event ${event.id}`, onclick: () => explain(event, why) }),
        why,
      );
      ul.append(li);
    }
    box.append(ul);
  }

  async function explain(event, box) {
    box.hidden = false;
    box.replaceChildren(el("p", { class: "hint", text: "Asking…" }));
    try {
      const data = await api.get(`events/${encodeURIComponent(event.id)}/explain`);
      box.replaceChildren();
      const rule = ctx.rule();
      const mine = (data.rules || []).find((r) => r.rule === rule?.id);
      if (mine) box.append(el("p", { class: `mine outcome-${mine.outcome}`, text: mine.sentence }));
      const others = (data.sentences || []).filter((s) => !mine || s !== mine.sentence);
      if (others.length) box.append(el("ul", {}, others.map((s) => el("li", { text: s }))));
      if (!mine && !others.length) box.append(el("p", { class: "hint", text: "No rule ran on this event." }));
    } catch (error) {
      box.replaceChildren(el("p", { class: "warning", text: `No explanation: ${error.message}` }));
      if (error.status && error.status !== 404) sayError(error);
    }
  }

  function load() {
    return Promise.all([loadResults(), loadEvents()]);
  }

  $("refresh-results").addEventListener("click", load);
  return { load };
}
