// One unit (static/builder/units.js) and the layout of big rules (convert.js layoutTree), run
// by test_canvas_js.py with `node --test`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

// Browser ES modules without a package.json "type": load them as data URLs, their own
// imports ("./units.js") the same way.
const asDataUrl = (name) => {
  let source = readFileSync(new URL(`../../static/builder/${name}`, import.meta.url), "utf8");
  source = source.replace(/from "\.\/([\w-]+\.js)"/g, (_, dep) => `from "${asDataUrl(dep)}"`);
  return `data:text/javascript;base64,${Buffer.from(source).toString("base64")}`;
};
const U = await import(asDataUrl("units.js"));
const C = await import(asDataUrl("convert.js"));

test("exponents: the ISO table without a catalog, the catalog's for the program currency", () => {
  U.setCatalog({});
  assert.equal(U.exponentOf("INR"), 2);
  assert.equal(U.exponentOf("JPY"), 0);
  assert.equal(U.exponentOf("KWD"), 3);
  assert.equal(U.exponentOf("BHD"), 3);
  assert.equal(U.exponentOf("usd"), 2);
  U.setCatalog({ currency: "XTS", currency_exponent: 4, triggers: {} });
  assert.equal(U.exponentOf("XTS"), 4);
  assert.equal(U.formatMoney(123456789, "XTS"), "XTS 12,345.6789");
  U.setCatalog({ currency: "JPY", currency_exponent: 0 });
  assert.equal(U.formatMoney(5000, "JPY"), "¥ 5,000");
  U.setCatalog({});
});

test("money reads in major units with the currency", () => {
  assert.equal(U.formatMoney(500000, "INR"), "₹ 5,000.00");
  assert.equal(U.formatMoney(5, "USD"), "$ 0.05");
  assert.equal(U.formatMoney(-123456, "INR"), "-₹ 1,234.56");
  assert.equal(U.formatMoney(1234567, "KWD"), "KWD 1,234.567");
  assert.equal(U.formatMoney(2500.5, "INR"), "2500.5"); // not minor units: shown as it is
  assert.equal(U.moneyInputText(500000, "INR"), "5000.00");
  assert.equal(U.moneyInputText(undefined, "INR"), "");
});

test("typed amounts become exact minor units and round-trip", () => {
  assert.equal(U.parseMoney("5000", "INR"), 500000);
  assert.equal(U.parseMoney("5,000.5", "INR"), 500050);
  assert.equal(U.parseMoney("0.1", "INR"), 10);
  assert.equal(U.parseMoney("19.99", "USD"), 1999); // 19.99 * 100 is 1998.9999… in floats
  assert.equal(U.parseMoney("1.005", "USD"), null);
  assert.equal(U.parseMoney("1.5", "JPY"), null);
  assert.equal(U.parseMoney("1.234", "KWD"), 1234);
  assert.equal(U.parseMoney("", "INR"), null);
  assert.equal(U.parseMoney(".", "INR"), null);
  assert.equal(U.parseMoney("1e3", "INR"), null);
  assert.equal(U.parseMoney("abc", "INR"), null);
  assert.equal(U.parseMoney("-2.50", "INR"), -250);
  assert.equal(U.parseMoney("99999999999999999", "INR"), null); // beyond a safe integer
  for (const currency of ["INR", "JPY", "KWD", "USD"]) {
    for (const minor of [0, 1, 7, 10, 99, 100, 101, 1999, 500000, 123456789, 10 ** 15, Number.MAX_SAFE_INTEGER]) {
      assert.equal(U.parseMoney(U.moneyInputText(minor, currency), currency), minor, `${minor} ${currency}`);
    }
  }
});

test("rates: basis points shown in percent, exactly", () => {
  assert.equal(U.bpsToPercentText(1050), "10.5");
  assert.equal(U.bpsToPercentText(1000), "10");
  assert.equal(U.bpsToPercentText(100), "1");
  assert.equal(U.bpsToPercentText(5), "0.05");
  assert.equal(U.bpsToPercentText(0), "0");
  assert.equal(U.percentTextToBps("10.5"), 1050);
  assert.equal(U.percentTextToBps("10.5%"), 1050);
  assert.equal(U.percentTextToBps("0.005"), null);
  for (let bps = 0; bps <= 10000; bps += 7) assert.equal(U.percentTextToBps(U.bpsToPercentText(bps)), bps);
});

test("money fields: the catalog's lists, else event.amount on money triggers", () => {
  U.setCatalog({ triggers: { purchase: { fields: {} }, signup: { fields: {} } } });
  assert.equal(U.isMoneyField("event.amount", "purchase"), true);
  assert.equal(U.isMoneyField("event.amount", "signup"), false);
  assert.equal(U.isMoneyField("event.quantity", "purchase"), false);
  U.setCatalog({ triggers: { purchase: { money: ["event.amount", "event.tax"] }, custom: { money: [] } } });
  assert.equal(U.isMoneyField("event.tax", "purchase"), true);
  assert.equal(U.isMoneyField("event.amount", "custom"), false);
  assert.equal(U.isMoneyField("event.tax"), true);
  U.setCatalog({});
});

test("conditions on money fields read in major units on the canvas", () => {
  const cond = (operator, value) => ({ field: "event.amount", operator, value });
  assert.equal(C.describeValue(cond("greater_than", 500000), { currency: "INR" }), "₹ 5,000.00");
  assert.equal(C.describeValue(cond("between", [100000, 1000000]), { currency: "INR" }), "₹ 1,000.00 and ₹ 10,000.00");
  assert.equal(C.describeValue(cond("in", [100, 200]), { currency: "INR" }), "[₹ 1.00, ₹ 2.00]");
  assert.equal(C.describeValue(cond("greater_than", 500000)), "500000"); // no currency: as stored
  assert.equal(C.describeValue({ field: "event.quantity", operator: "equals", value: 5 }, { currency: "INR" }), "5");
});

/** A rule of `leaves` conditions in `groups` OR-ed groups of AND-ed leaves. */
function bigRule(leaves, groups) {
  const per = Math.ceil(leaves / groups);
  const conditions = [];
  for (let g = 0; g < groups; g++) {
    const kids = [];
    for (let i = g * per; i < Math.min(leaves, (g + 1) * per); i++) {
      kids.push({ field: `event.f${i}`, operator: "equals", value: `v${i}` });
    }
    conditions.push({ operator: "AND", conditions: kids });
  }
  return {
    name: "Big",
    trigger: "purchase",
    conditions: { operator: "OR", conditions },
    actions: [{ type: "credit_reward", params: { amount: 100 } }],
  };
}

function load(definition, collapsed = new Set()) {
  const graph = C.ruleToGraph(definition);
  for (const node of graph.nodes) if (collapsed.has(node.id)) node.data = { ...node.data, collapsed: 3 };
  const positions = C.layoutTree(graph);
  return { nodes: graph.nodes.map((n) => ({ id: n.id, data: n.data, ...positions[n.id] })), edges: graph.edges };
}

function overlaps(graph, visible = () => true) {
  const boxes = graph.nodes.filter(visible).map((n) => ({ id: n.id, x: n.x, y: n.y, ...C.NODE_SIZE[n.data.kind] }));
  const out = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i];
      const b = boxes[j];
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) out.push([a.id, b.id]);
    }
  }
  return out;
}

test("a 150-leaf rule lays out with no overlaps, about as wide as tall, in its order", () => {
  for (const groups of [1, 5, 15, 30]) {
    const rule = bigRule(150, groups);
    const graph = load(rule);
    assert.deepEqual(overlaps(graph), [], `${groups} groups`);
    const xs = graph.nodes.map((n) => n.x);
    const ys = graph.nodes.map((n) => n.y);
    const width = Math.max(...xs) - Math.min(...xs) + 240;
    const height = Math.max(...ys) - Math.min(...ys) + 96;
    if (groups <= 5) assert.ok(height < 3 * width, `${groups} groups: ${width}x${height}`);
    // The order on the canvas is the order in the JSON.
    assert.equal(JSON.stringify(C.graphToRule(graph).definition), JSON.stringify(rule));
  }
});

test("collapsed groups keep their conditions and their order", () => {
  const rule = bigRule(40, 4);
  const plain = C.ruleToGraph(rule);
  const groups = plain.nodes.filter((n) => n.data.kind === "group" && n.data.group.operator === "AND").map((n) => n.id);
  const graph = load(rule, new Set(groups.slice(1, 3)));
  const hidden = new Set();
  const kids = C.childrenOf(graph);
  for (const id of groups.slice(1, 3)) for (const k of kids[id] || []) hidden.add(k);
  assert.deepEqual(overlaps(graph, (n) => !hidden.has(n.id)), []);
  const { definition } = C.graphToRule(graph);
  assert.equal(JSON.stringify(definition), JSON.stringify(rule)); // data.collapsed is no rule key
  const tall = load(rule);
  const height = (g) => Math.max(...g.nodes.map((n) => n.y)) - Math.min(...g.nodes.map((n) => n.y));
  assert.ok(height(graph) < height(tall));
});

test("a big rule's collapsed groups make a grid that fits a screen", () => {
  const rule = bigRule(150, 10);
  const plain = C.ruleToGraph(rule);
  const groups = plain.nodes.filter((n) => n.data.kind === "group" && n.data.group.operator === "AND").map((n) => n.id);
  const graph = load(rule, new Set(groups));
  const shown = graph.nodes.filter((n) => n.data.kind !== "leaf");
  assert.deepEqual(overlaps({ nodes: shown }), []);
  const width = Math.max(...shown.map((n) => n.x + C.NODE_SIZE[n.data.kind].width)) - Math.min(...shown.map((n) => n.x));
  const height = Math.max(...shown.map((n) => n.y + C.NODE_SIZE[n.data.kind].height)) - Math.min(...shown.map((n) => n.y));
  assert.ok(width < 1500 && height < 600, `${width}x${height}`);
  assert.equal(JSON.stringify(C.graphToRule(graph).definition), JSON.stringify(rule));
});

test("schedule times: stored RFC 3339, shown and typed in UTC", () => {
  assert.equal(U.utcInputValue("2026-01-31T09:30:00Z"), "2026-01-31T09:30");
  assert.equal(U.utcInputValue("2026-01-31T09:30:15+00:00"), "2026-01-31T09:30:15");
  assert.equal(U.utcInputValue("2026-01-31T15:00:00+05:30"), "2026-01-31T09:30");
  assert.equal(U.utcInputValue("2026-01-31"), "");
  assert.equal(U.utcInputValue(undefined), "");
  assert.equal(U.rfc3339FromUtcInput("2026-01-31T09:30"), "2026-01-31T09:30:00Z");
  assert.equal(U.rfc3339FromUtcInput("2026-01-31T09:30:15"), "2026-01-31T09:30:15Z");
  assert.equal(U.rfc3339FromUtcInput(""), null);
  assert.equal(U.rfc3339FromUtcInput("2026-13-45T99:99"), null);
  for (const text of ["2026-01-31T09:30:00Z", "2030-12-31T23:59:59Z"]) {
    assert.equal(U.rfc3339FromUtcInput(U.utcInputValue(text)), text);
  }
});
