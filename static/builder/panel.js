// The property panel: a form for the selected node, built with DOM APIs from the known node
// shapes (never innerHTML). Every edit hands a whole new data object to `onChange`, which
// writes it to the node (one undo step) and the canvas redraws from it. An action's form is
// drawn from its fields in the rules catalog (GET rules/catalog's `actions`).
import { GROUP_OPERATORS, LIST_OPERATORS, NO_VALUE_OPERATORS, operatorsFor } from "./convert.js";
import {
  bpsToPercentText,
  isMoneyField,
  moneyInputText,
  parseMoney,
  percentTextToBps,
  rfc3339FromUtcInput,
  setCatalog,
  utcInputValue,
} from "./units.js";

const OTHER = "\u0000other";

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function field(label, input, hint) {
  return el("label", { class: "field" }, el("span", { class: "label", text: label }), input,
    hint ? el("small", { class: "hint", text: hint }) : null);
}

function select(name, options, value, onchange) {
  const node = el("select", { name, onchange: (e) => onchange(e.target.value) });
  for (const option of options) {
    const [val, label, group] = Array.isArray(option) ? option : [option, option];
    const opt = el("option", { value: val, text: label });
    if (val === value) opt.selected = true;
    if (group) {
      let og = [...node.children].find((c) => c.tagName === "OPTGROUP" && c.label === group);
      if (!og) node.append((og = el("optgroup", { label: group })));
      og.append(opt);
    } else node.append(opt);
  }
  return node;
}

/** A text box that commits on change (blur, Enter) and after a pause in typing, so an edit
 * is never lost to a click on Save or on the canvas. */
function input(name, value, onchange, props = {}) {
  let timer = null;
  const commit = (target) => {
    clearTimeout(timer);
    onchange(target.value, target);
  };
  return el("input", {
    name,
    value: value === undefined || value === null ? "" : String(value),
    onchange: (e) => commit(e.target),
    oninput: (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => commit(e.target), 500);
    },
    ...props,
  });
}

const clone = (v) => JSON.parse(JSON.stringify(v));

/** A field catalog for the rule's trigger: {path: type}. */
export function fieldsFor(catalog, trigger) {
  return catalog?.triggers?.[trigger]?.fields || {};
}

function defaultFor(type) {
  if (type === "boolean") return true;
  if (type === "number" || type === "integer") return 0;
  return "";
}

/** Text typed into a value box, read as the field's type (an unparseable number stays text,
 * so the server's validation names the problem on the node). */
function parseTyped(text, type) {
  if (type === "number" || type === "integer") {
    const n = Number(text);
    return text.trim() !== "" && Number.isFinite(n) ? n : text;
  }
  if (type === "boolean") return text === "true";
  return text;
}

function valueInput(name, value, type, onchange) {
  if (type === "boolean") {
    return select(name, [["true", "true"], ["false", "false"]], String(value === true), (v) => onchange(v === "true"));
  }
  const props = {};
  if (type === "number" || type === "integer") {
    props.type = "number";
    props.step = type === "integer" ? "1" : "any";
  } else if (type === "datetime") props.placeholder = "2025-01-31T00:00:00Z";
  return input(name, value, (text) => onchange(parseTyped(text, type)), props);
}

function typeOfValue(value) {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return "number";
  return "string";
}

/** Reshape a leaf's value when its operator changes (list, pair, number of days, none). */
function reshape(cond, operator, type) {
  const next = { ...cond, operator };
  const v = cond.value;
  const first = Array.isArray(v) ? v[0] : v;
  if (NO_VALUE_OPERATORS.includes(operator)) delete next.value;
  else if (LIST_OPERATORS.includes(operator)) next.value = Array.isArray(v) ? v : v === undefined || v === "" ? [] : [v];
  else if (operator === "between") {
    next.value = Array.isArray(v) && v.length === 2 ? v : [first ?? defaultFor(type), defaultFor(type)];
  } else if (operator === "within_last_days") next.value = Number.isInteger(first) ? first : 30;
  else next.value = first === undefined ? defaultFor(type) : first;
  return next;
}

function triggerForm(data, ctx) {
  const rule = data.rule || {};
  const set = (key, value) => {
    const next = clone(ctx.get());
    if (value === undefined) delete next.rule[key];
    else next.rule[key] = value;
    ctx.onChange(next);
  };
  const triggers = Object.keys(ctx.catalog?.triggers || {});
  if (rule.trigger && !triggers.includes(rule.trigger)) triggers.unshift(rule.trigger);
  const description = ctx.catalog?.triggers?.[rule.trigger]?.description;
  return [
    field("Rule name", input("name", rule.name, (v) => set("name", v))),
    field(
      "Trigger (event type)",
      select("trigger", [["", "(choose)"], ...triggers.map((t) => [t, t])], rule.trigger ?? "", (v) => set("trigger", v)),
      description,
    ),
    field(
      "Priority",
      input("priority", rule.priority, (v) => set("priority", v.trim() === "" ? undefined : parseTyped(v, "integer")), {
        type: "number",
        step: "1",
      }),
      "Higher runs first.",
    ),
    el(
      "label",
      { class: "field check" },
      el("input", {
        type: "checkbox",
        name: "stop_processing",
        checked: Boolean(rule.stop_processing),
        onchange: (e) => set("stop_processing", e.target.checked),
      }),
      el("span", { text: "Stop processing later rules when this one matches" }),
    ),
    field(
      "Description",
      textarea("description", rule.description, (v) => set("description", v.trim() === "" ? undefined : v)),
      "For the people who read this rule later (at most 2000 characters).",
    ),
    ...scheduleForm(rule, set),
    ...limitsForm(rule.limits, ctx, (limits) => set("limits", limits)),
  ];
}

/**
 * When this version runs (SPEC §6 active_from / active_until): times in UTC, stored as RFC 3339
 * with "Z"; "until" is exclusive; an emptied box removes its key. A stored time that is not
 * RFC 3339 is shown as it is, so it can be seen and replaced.
 */
function scheduleForm(rule, set) {
  const box = (key, label, hint) => {
    const stored = rule[key];
    const shown = utcInputValue(stored);
    const control = el("input", {
      type: "datetime-local",
      name: key,
      step: "1",
      value: shown,
      onchange: (e) => {
        const target = e.target;
        if (target.value.trim() === "") {
          target.setCustomValidity("");
          return set(key, undefined);
        }
        const text = rfc3339FromUtcInput(target.value);
        if (text === null) {
          target.setCustomValidity("Enter a date and time (UTC).");
          target.reportValidity();
          return undefined;
        }
        target.setCustomValidity("");
        return set(key, text);
      },
    });
    const odd = stored !== undefined && !shown ? `Stored as ${JSON.stringify(stored)}, which is not an RFC 3339 time.` : null;
    return field(label, control, odd || hint);
  };
  const from = rfc3339FromUtcInput(utcInputValue(rule.active_from));
  const until = rfc3339FromUtcInput(utcInputValue(rule.active_until));
  const backwards = from && until && new Date(until) <= new Date(from);
  return [
    el(
      "fieldset",
      { class: "limits schedule" },
      el("legend", { text: "Schedule (optional, UTC)" }),
      box("active_from", "Active from", "Events before this time are skipped."),
      box("active_until", "Active until", "Events at or after this time are skipped."),
      backwards ? el("p", { class: "warning", text: "“Active until” must be after “Active from”." }) : null,
    ),
  ];
}

function textarea(name, value, onchange) {
  let timer = null;
  const commit = (target) => {
    clearTimeout(timer);
    onchange(target.value);
  };
  return el("textarea", {
    name,
    rows: "3",
    maxlength: "2000",
    text: value ?? "",
    onchange: (e) => commit(e.target),
    oninput: (e) => {
      clearTimeout(timer);
      timer = setTimeout(() => commit(e.target), 500);
    },
  });
}

const PERIODS = [["", "all time (default)"], ["day", "per day"], ["week", "per week"], ["month", "per month"], ["all_time", "all time"]];

/**
 * The rule's limits (SPEC §6 "limits"): per beneficiary, at most N rewards and/or an amount
 * per period; a total budget. An emptied part is removed, and so is an empty "limits".
 */
function limitsForm(limits, ctx, setLimits) {
  const now = limits && typeof limits === "object" && !Array.isArray(limits) ? limits : {};
  const per = now.per_beneficiary && typeof now.per_beneficiary === "object" ? now.per_beneficiary : {};
  const budget = now.budget && typeof now.budget === "object" ? now.budget : {};
  const update = (part, key, value) => {
    const rule = clone(ctx.get()).rule || {};
    const next = rule.limits && typeof rule.limits === "object" && !Array.isArray(rule.limits) ? rule.limits : {};
    const section = next[part] && typeof next[part] === "object" ? { ...next[part] } : {};
    if (value === undefined || value === "") delete section[key];
    else section[key] = value;
    // A period alone is no limit: per_beneficiary needs max_rewards or max_amount.
    const empty = Object.keys(section).filter((k) => k !== "period").length === 0;
    if (empty) delete next[part];
    else next[part] = section;
    setLimits(Object.keys(next).length ? next : undefined);
  };
  const whole = (part, key) => (text) => update(part, key, text.trim() === "" ? undefined : parseTyped(text, "integer"));
  return [
    el(
      "fieldset",
      { class: "limits" },
      el("legend", { text: "Limits (optional)" }),
      field(
        "Rewards per beneficiary, at most",
        input("limit_max_rewards", per.max_rewards, whole("per_beneficiary", "max_rewards"), { type: "number", step: "1", min: "1" }),
      ),
      field(
        "Amount per beneficiary, at most",
        moneyInput("limit_max_amount", per.max_amount, ctx.currency, (v) => update("per_beneficiary", "max_amount", v)),
      ),
      field(
        "Per",
        select("limit_period", PERIODS, per.period ?? "", (v) => update("per_beneficiary", "period", v || undefined)),
        per.max_rewards === undefined && per.max_amount === undefined ? "Set a count or an amount first." : null,
      ),
      field(
        "Total budget for this rule",
        moneyInput("limit_budget", budget.max_amount, ctx.currency, (v) => update("budget", "max_amount", v)),
      ),
    ),
  ];
}

function groupForm(data, ctx) {
  return [
    field(
      "Combine conditions with",
      select(
        "operator",
        GROUP_OPERATORS.map((op) => [op, { AND: "AND: all must hold", OR: "OR: any may hold", NOT: "NOT: must not hold" }[op]]),
        data.group?.operator,
        (v) => {
          const now = clone(ctx.get());
          ctx.onChange({ ...now, group: { ...now.group, operator: v } });
        },
      ),
      "NOT takes exactly one condition; AND and OR take one or more.",
    ),
  ];
}

function fieldOptions(fields) {
  return Object.entries(fields).map(([path, type]) => [path, `${path} (${type})`, path.split(".")[0]]);
}

function leafForm(data, ctx) {
  const cond = data.cond && typeof data.cond === "object" && !Array.isArray(data.cond) ? data.cond : {};
  const fields = fieldsFor(ctx.catalog, ctx.trigger);
  const known = cond.field in fields;
  const otherField = Boolean(cond.field) && !known;
  const type = known ? fields[cond.field] : ctx.valueTypes.get(ctx.nodeId) || typeOfValue(Array.isArray(cond.value) ? cond.value[0] : cond.value);
  // Handlers start from the node's data at the time of the event, not of the drawing.
  const write = (change) => {
    const now = clone(ctx.get());
    const current = now.cond && typeof now.cond === "object" && !Array.isArray(now.cond) ? now.cond : {};
    ctx.onChange({ ...now, cond: change(current) });
  };
  const out = [];

  out.push(
    field(
      "Field",
      select(
        "field",
        [["", "(choose a field)"], ...fieldOptions(fields), [OTHER, "Other field…"]],
        otherField ? OTHER : cond.field ?? "",
        (v) => {
          if (v === OTHER) {
            ctx.showOther();
            return;
          }
          const t = fields[v];
          const ops = operatorsFor(t);
          write((c) => {
            const op = ops.includes(c.operator) ? c.operator : ops[0];
            // A value typed for another kind of field means nothing here: start afresh.
            const keep = c.field in fields && fields[c.field] === t && op === c.operator;
            return reshape({ ...c, field: v, value: keep ? c.value : undefined }, op, t);
          });
        },
      ),
      ctx.trigger ? null : "Choose the rule's trigger first: it decides the fields.",
    ),
  );
  if (otherField || ctx.otherShown) {
    out.push(field("Field path", input("field_path", cond.field, (v) => write((c) => ({ ...c, field: v.trim() })), { placeholder: "event.amount" })));
    out.push(
      field(
        "Value type",
        select("value_type", ["string", "number", "boolean"], type, (v) => {
          ctx.valueTypes.set(ctx.nodeId, v);
          write((c) => reshape({ ...c, value: undefined }, c.operator, v));
        }),
      ),
    );
  }
  // A money field: amounts typed and shown in major units of the program currency.
  const money = (type === "number" || type === "integer") && isMoneyField(cond.field, ctx.trigger || undefined);
  const valueBox = (name, value, onchange) => (money ? moneyInput(name, value, ctx.currency, onchange) : valueInput(name, value, type, onchange));
  const operators = [...operatorsFor(known ? type : undefined)];
  if (cond.operator && !operators.includes(cond.operator)) operators.unshift(cond.operator);
  out.push(
    field(
      "Operator",
      select("operator", operators.map((op) => [op, op.replaceAll("_", " ")]), cond.operator, (v) => write((c) => reshape(c, v, type))),
    ),
  );

  const op = cond.operator;
  if (NO_VALUE_OPERATORS.includes(op)) {
    out.push(el("p", { class: "hint", text: "No value: this checks whether the field is present." }));
  } else if (LIST_OPERATORS.includes(op)) {
    const items = Array.isArray(cond.value) ? cond.value : [];
    const list = el("div", { class: "list-editor" });
    items.forEach((item, i) => {
      list.append(
        el(
          "div",
          { class: "list-item" },
          valueBox(`value_${i}`, item, (v) =>
            write((c) => {
              const next = Array.isArray(c.value) ? [...c.value] : [];
              next[i] = v;
              return { ...c, value: next };
            }),
          ),
          el("button", {
            type: "button",
            class: "small",
            text: "Remove",
            "aria-label": `Remove item ${i + 1}`,
            onclick: () => write((c) => ({ ...c, value: (Array.isArray(c.value) ? c.value : []).filter((_, j) => j !== i) })),
          }),
        ),
      );
    });
    list.append(
      el("button", {
        type: "button",
        class: "small",
        name: "add_item",
        text: "Add item",
        onclick: () => write((c) => ({ ...c, value: [...(Array.isArray(c.value) ? c.value : []), defaultFor(type)] })),
      }),
    );
    out.push(field("Values (any of)", list));
  } else if (op === "between") {
    const pair = Array.isArray(cond.value) ? cond.value : [undefined, undefined];
    const setEnd = (i, v) =>
      write((c) => {
        const next = Array.isArray(c.value) && c.value.length === 2 ? [...c.value] : [undefined, undefined];
        next[i] = v;
        return { ...c, value: next };
      });
    out.push(
      field("From (inclusive)", valueBox("value_low", pair[0], (v) => setEnd(0, v))),
      field("To (inclusive)", valueBox("value_high", pair[1], (v) => setEnd(1, v))),
    );
  } else if (op === "within_last_days") {
    out.push(field("Days", valueInput("value", cond.value, "integer", (v) => write((c) => ({ ...c, value: v }))), "Within this many days before the event."));
  } else {
    out.push(field("Value", valueBox("value", cond.value, (v) => write((c) => ({ ...c, value: v })))));
  }
  return out;
}

/** An amount box: major units typed and shown ("5000.00", an INR badge), minor units stored. */
function moneyInput(name, amount, currency, onchange) {
  const box = input(
    name,
    moneyInputText(amount, currency),
    (text, target) => {
      if (text.trim() === "") {
        target.setCustomValidity("");
        return onchange(undefined);
      }
      const minor = parseMoney(text, currency);
      if (minor === null) {
        target.setCustomValidity(`Enter an amount in ${currency}, e.g. 500 or 500.50`);
        target.reportValidity();
        return undefined;
      }
      target.setCustomValidity("");
      return onchange(minor);
    },
    { inputmode: "decimal", placeholder: "0.00" },
  );
  return el("span", { class: "money" }, box, el("span", { class: "unit", text: currency }));
}

/** A rate box: percent typed and shown ("10.5", a % badge), basis points stored (1050). */
function percentInput(name, bps, onchange) {
  const box = input(
    name,
    bps === undefined || bps === null ? "" : bpsToPercentText(bps),
    (text, target) => {
      if (text.trim() === "") {
        target.setCustomValidity("");
        return onchange(undefined);
      }
      const value = percentTextToBps(text);
      if (value === null) {
        target.setCustomValidity("Enter a percent with at most 2 decimals, e.g. 10 or 2.5");
        target.reportValidity();
        return undefined;
      }
      target.setCustomValidity("");
      return onchange(value);
    },
    { inputmode: "decimal", placeholder: "10" },
  );
  return el("span", { class: "money" }, box, el("span", { class: "unit", text: "%" }));
}

/** One param's control, by its field's kind (rules/action_registry.py ParamField). */
function paramField(f, params, ctx, setParam) {
  const value = params[f.name];
  const currency = params.currency || ctx.currency;
  const hint = f.hint ? f.hint.replaceAll("{currency}", currency) : undefined;
  const options = f.options || [];
  const whole = (v) => setParam(f.name, v.trim() === "" ? undefined : parseTyped(v, "integer"));
  const numberProps = { type: "number", step: "1", min: f.minimum === undefined ? undefined : String(f.minimum) };
  switch (f.kind) {
    case "beneficiary":
      return [field(f.label, select(f.name, [["", "referrer (default)"], ...options.map((b) => [b, b])], value ?? "", (v) => setParam(f.name, v)), hint)];
    case "money":
      return [field(f.label, moneyInput(f.name, value, currency, (v) => setParam(f.name, v)), hint)];
    case "currency":
      return [field(f.label, input(f.name, value, (v) => setParam(f.name, v.trim().toUpperCase()), { maxlength: "3" }), hint)];
    case "choice":
      return [field(f.label, select(f.name, [["", "(default)"], ...options.map((t) => [t, t])], value ?? "", (v) => setParam(f.name, v)), hint)];
    case "integer":
      return [field(f.label, input(f.name, value, whole, numberProps), hint)];
    case "basis_points":
      return [field(f.label, percentInput(f.name, value, (v) => setParam(f.name, v)), hint)];
    case "numeric_field": {
      const numeric = Object.entries(fieldsFor(ctx.catalog, ctx.trigger)).filter(([, t]) => t === "number" || t === "integer");
      const choices = [["", "(choose a field)"], ...numeric.map(([path]) => [path, path])];
      if (value && !numeric.some(([path]) => path === value)) choices.push([value, value]);
      return [field(f.label, select(f.name, choices, value ?? "", (v) => setParam(f.name, v)), hint)];
    }
    default: {
      // text, with the options as suggestions
      const listId = options.length ? `${f.name}-options` : undefined;
      return [
        field(f.label, input(f.name, value, (v) => setParam(f.name, v.trim()), { list: listId }), hint),
        listId ? el("datalist", { id: listId }, options.map((option) => el("option", { value: option }))) : null,
      ];
    }
  }
}

function actionForm(data, ctx) {
  const action = data.action && typeof data.action === "object" ? data.action : {};
  const params = action.params && typeof action.params === "object" ? action.params : {};
  const actionTypes = ctx.catalog?.actions || [];
  const setParam = (key, value) => {
    const next = clone(ctx.get());
    const now = next.action.params && typeof next.action.params === "object" ? next.action.params : {};
    next.action.params = { ...now };
    if (value === undefined || value === "") delete next.action.params[key];
    else next.action.params[key] = value;
    ctx.onChange(next);
  };
  const out = [
    field(
      "Action",
      select("type", actionTypes.map((t) => [t.type, t.type.replaceAll("_", " ")]), action.type, (v) => {
        const next = clone(ctx.get());
        next.action = { ...next.action, type: v };
        ctx.onChange(next);
      }),
    ),
  ];
  const spec = actionTypes.find((t) => t.type === action.type);
  for (const f of spec?.fields || []) out.push(...paramField(f, params, ctx, setParam).filter(Boolean));
  return out;
}

/** Element signature: morphing is safe when two drawings have the same controls in order. */
function signature(root) {
  return [...root.querySelectorAll("*")].map((n) => `${n.tagName}:${n.getAttribute("name") || ""}:${n.getAttribute("type") || ""}`).join("|");
}

/**
 * Copies the new drawing's state into the old elements instead of replacing them: a control
 * the user is about to use (a change event fires on blur, just as they click the next one)
 * stays the same element. Handlers read the node's data when they run, so old ones are fine.
 */
function morph(old, fresh) {
  if (old.tagName === "SELECT") {
    const value = fresh.value;
    old.replaceChildren(...fresh.children);
    old.value = value;
    return;
  }
  if (old.tagName === "TEXTAREA") {
    if (old !== document.activeElement && old.value !== fresh.value) old.value = fresh.value;
    return;
  }
  if (old.tagName === "INPUT") {
    if (old.type === "checkbox" || old.type === "radio") old.checked = fresh.checked;
    else if (old !== document.activeElement && old.value !== fresh.value) {
      old.value = fresh.value;
      // The value came from the rule (undo, another edit): an old complaint about it is stale.
      old.setCustomValidity?.("");
    }
    return;
  }
  if (old.children.length === 0 && fresh.children.length === 0) {
    if (old.textContent !== fresh.textContent) old.textContent = fresh.textContent;
    return;
  }
  [...old.children].forEach((child, i) => morph(child, fresh.children[i]));
}

/**
 * Draws the panel for `node` (an X6 node, or null). ctx: {catalog, currency, trigger,
 * onChange(data), valueTypes: Map, otherFields: Set, problems}.
 */
export function renderPanel(container, node, ctx) {
  setCatalog(ctx.catalog);
  const fresh = el("div", { class: "panel-body" });
  if (!node) {
    fresh.append(el("p", { class: "hint", text: "Select a node to edit it. Connect two nodes by dragging from a right-hand dot to a left-hand dot, or by dropping a node on its parent." }));
  } else {
    const data = node.getData() || {};
    const formCtx = {
      ...ctx,
      get: () => node.getData() || {},
      nodeId: node.id,
      otherShown: ctx.otherFields.has(node.id),
      showOther: () => {
        ctx.otherFields.add(node.id);
        renderPanel(container, node, ctx);
      },
    };
    const title = { trigger: "Trigger and rule", group: "Condition group", leaf: "Condition", action: "Action" }[data.kind] || "Node";
    const forms = { trigger: triggerForm, group: groupForm, leaf: leafForm, action: actionForm };
    fresh.append(el("h3", { text: title }), ...(forms[data.kind]?.(data, formCtx) || []));
    if (ctx.problems?.length) {
      fresh.append(el("ul", { class: "node-problems" }, ctx.problems.map((p) => el("li", { text: p }))));
    }
  }
  const old = container.firstElementChild;
  const sameNode = container.dataset.node === (node?.id ?? "");
  if (old && sameNode && signature(old) === signature(fresh)) morph(old, fresh);
  else {
    const focused = container.contains(document.activeElement) ? document.activeElement.getAttribute("name") : null;
    container.replaceChildren(fresh);
    container.dataset.node = node?.id ?? "";
    if (focused) fresh.querySelector(`[name="${CSS.escape(focused)}"]`)?.focus();
  }
}
