// Saved test scenarios of a rule (issue 15 item 3): an event and the outcome it should have.
// They run on every save (the server stores the results) and publishing is refused while one
// fails. Here: the list with each one's last result, "save the test you just ran as a
// scenario", and "run them all against the canvas" (unsaved; nothing is stored).
import { items } from "./api.js";
import { el } from "./panel.js";
import { formatMoney } from "./units.js";

/** 150000, "INR" -> "₹ 1,500.00": major units, grouped, with the currency (as the canvas). */
export function money(amount, currency) {
  return formatMoney(amount, currency);
}

/** What a scenario expects, in words: "pays 500.00 INR to the referrer" / "does not match". */
export function expectWords(expect, currency) {
  if (!expect || !expect.matched) return "should not match (no reward)";
  const rewards = Array.isArray(expect.rewards) ? expect.rewards : null;
  if (!rewards) return "should match";
  if (!rewards.length) return "should match, with no reward";
  const paid = rewards.map((r) => `${money(r.amount, r.currency || currency)} to the ${r.beneficiary}`);
  return `should match and pay ${paid.join(" and ")}`;
}

/** Rewards a test run would book: the planned actions with an amount in a currency. */
export function rewardsOf(response, currency) {
  return (response?.actions || [])
    .filter((a) => a && !a.skipped && !a.operation && Number.isInteger(a.amount) && a.amount > 0 && a.beneficiary)
    .map((a) => ({ beneficiary: a.beneficiary, amount: a.amount, currency: a.currency || currency }));
}

export function createScenarios(ctx) {
  const { api, cfg, say, sayError } = ctx;
  const $ = (id) => document.getElementById(id);
  let lastTest = null; // {event, response}

  function resultLine(result) {
    if (!result) return el("span", { class: "badge badge-none", text: "not run yet" });
    const when = result.version ? ` on v${result.version}` : "";
    return el(
      "span",
      { class: `badge ${result.passed ? "badge-ok" : "badge-no"}` },
      result.passed ? `passed${when}` : `failed${when}${result.message ? `: ${result.message}` : ""}`,
    );
  }

  async function load() {
    const box = $("scenario-list");
    box.replaceChildren();
    const rule = ctx.rule();
    // Running and saving scenarios changes the rule's records: it needs the right to change rules.
    $("run-scenarios").disabled = !rule || !cfg.canPublish;
    if (!rule) {
      box.append(el("p", { class: "hint", text: "Save the rule to keep test scenarios with it." }));
      return;
    }
    let list;
    try {
      list = items(await api.get(`rules/${rule.id}/scenarios`));
    } catch (error) {
      box.append(el("p", { class: "hint", text: `Scenarios unavailable: ${error.message}` }));
      return;
    }
    if (!list.length) {
      box.append(el("p", { class: "hint", text: "No scenarios yet. Run a test above, then save it as a scenario." }));
      return;
    }
    const ul = el("ul", { class: "scenarios" });
    for (const s of list) {
      ul.append(
        el(
          "li",
          { "data-scenario": String(s.id) },
          el("strong", { text: s.name }),
          el("span", { class: "expect", text: ` ${expectWords(s.expect, cfg.currency)}` }),
          el("div", { class: "row" }, resultLine(s.last_result)),
          el(
            "div",
            { class: "row" },
            el("button", { type: "button", class: "small", text: "Use its event", onclick: () => useEvent(s) }),
            el("button", { type: "button", class: "small", text: "Delete", "aria-label": `Delete scenario ${s.name}`, onclick: () => remove(s) }),
          ),
        ),
      );
    }
    box.append(ul);
  }

  function useEvent(scenario) {
    $("test-section").open = true;
    $("sample-event").value = JSON.stringify(scenario.event, null, 2);
    say(`Loaded the event of "${scenario.name}" into the test box.`);
  }

  async function remove(scenario) {
    if (!window.confirm(`Delete the scenario "${scenario.name}"?`)) return;
    try {
      await api.delete(`rules/${ctx.rule().id}/scenarios/${scenario.id}`);
      say(`Deleted the scenario "${scenario.name}".`, "ok");
      await load();
    } catch (error) {
      sayError(error);
    }
  }

  /** Called after every test run: offers to keep it, expecting what just happened. */
  function tested(event, response) {
    lastTest = { event, response };
    const form = $("scenario-form");
    form.hidden = false;
    const rewards = rewardsOf(response, cfg.currency);
    $("scenario-expect").value = response.matched ? "match" : "no-match";
    const rewardBox = $("scenario-rewards");
    rewardBox.replaceChildren();
    if (rewards.length) {
      rewardBox.append(
        el(
          "label",
          { class: "field check" },
          el("input", { type: "checkbox", id: "scenario-expect-rewards", checked: true }),
          el("span", { text: `and pays ${rewards.map((r) => `${money(r.amount, r.currency)} to the ${r.beneficiary}`).join(" and ")}` }),
        ),
      );
    }
    if (!ctx.rule()) {
      $("save-scenario").disabled = true;
      $("scenario-note").textContent = "Save the rule first to keep this test as a scenario.";
    } else if (!cfg.canPublish) {
      $("save-scenario").disabled = true;
      $("scenario-note").textContent = "Keeping scenarios needs the permission to change rules.";
    } else {
      $("save-scenario").disabled = false;
      $("scenario-note").textContent = "";
    }
  }

  async function saveScenario() {
    const rule = ctx.rule();
    if (!rule || !lastTest) return;
    const name = $("scenario-name").value.trim();
    if (!name) {
      say("Give the scenario a name, e.g. \"Paid referrer, premium plan\".", "error");
      $("scenario-name").focus();
      return;
    }
    const matched = $("scenario-expect").value === "match";
    const expect = { matched };
    if (matched && $("scenario-expect-rewards")?.checked) expect.rewards = rewardsOf(lastTest.response, cfg.currency);
    else if (!matched) expect.rewards = [];
    try {
      await api.post(`rules/${rule.id}/scenarios`, { name, event: lastTest.event, expect });
      say(`Saved the scenario "${name}". It runs on every save; publishing waits while it fails.`, "ok");
      $("scenario-name").value = "";
      $("scenarios-section").open = true;
      await load();
    } catch (error) {
      sayError(error);
    }
  }

  function showRun(box, data) {
    box.replaceChildren();
    const results = data?.results || [];
    const failed = results.filter((r) => !r.passed);
    box.append(
      el("p", {
        class: failed.length ? "no" : "ok",
        text: results.length ? `${results.length - failed.length} of ${results.length} scenarios pass.` : "No scenarios to run.",
      }),
    );
    const ul = el("ul", { class: "scenario-results" });
    for (const r of results) {
      ul.append(el("li", { class: r.passed ? "ok" : "no", text: `${r.passed ? "✓" : "✗"} ${r.name}${r.passed ? "" : `: ${r.message || "failed"}`}` }));
    }
    box.append(ul);
  }

  async function runAll() {
    const rule = ctx.rule();
    if (!rule) return;
    ctx.refresh();
    const definition = ctx.definition();
    const box = $("scenario-run");
    try {
      const data = await api.post(`rules/${rule.id}/scenarios/run`, { definition });
      showRun(box, data);
      say(data.passed ? "Every scenario passes on the canvas." : "Some scenarios fail on the canvas.", data.passed ? "ok" : "error");
    } catch (error) {
      sayError(error);
    }
  }

  /** A save's (PUT) or a refused publish's scenario results. */
  function showResults(summary) {
    if (!summary) return "";
    const results = summary.results || [];
    showRun($("scenario-run"), { results });
    $("scenarios-section").open = true;
    const total = summary.total ?? results.length;
    const failed = summary.failed ?? results.filter((r) => !r.passed).length;
    if (!total) return "";
    return failed ? ` ${failed} of ${total} scenarios fail.` : ` All ${total} scenarios pass.`;
  }

  $("save-scenario").addEventListener("click", saveScenario);
  $("run-scenarios").addEventListener("click", runAll);
  return { load, tested, showResults };
}
