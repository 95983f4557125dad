// One unit for money: rules store minor units (integers), authors read and type major units
// with the currency ("₹ 5,000.00"; an input "5000" with an INR badge). Every conversion is
// string or integer arithmetic, so a value typed, stored and shown again is exactly the same.
// Rates: basis points stored, percent shown (1050 <-> "10.5").
// No DOM and no X6: runs under `node --test`.

// ISO 4217 minor-unit digits that differ from 2 (used when the catalog gives no exponent).
const EXPONENTS = {
  BHD: 3, IQD: 3, JOD: 3, KWD: 3, LYD: 3, OMR: 3, TND: 3,
  BIF: 0, CLP: 0, DJF: 0, GNF: 0, ISK: 0, JPY: 0, KMF: 0, KRW: 0, PYG: 0, RWF: 0, UGX: 0,
  UYI: 0, VND: 0, VUV: 0, XAF: 0, XOF: 0, XPF: 0,
};

// Fallback money fields until the catalog lists them ("money": [paths] per trigger).
const MONEY_TRIGGERS = ["purchase", "subscription_started", "subscription_renewed", "refund"];
const FALLBACK_MONEY = ["event.amount"];

const catalogState = { currency: "", exponent: null, money: null };

/**
 * Remembers what the rules catalog says about money: the program currency and its exponent
 * ("currency", "currency_exponent") and each trigger's money fields ("money"). Safe to call
 * with anything (a missing or partial catalog keeps the fallbacks).
 */
export function setCatalog(catalog) {
  if (!catalog || typeof catalog !== "object") return;
  catalogState.currency = typeof catalog.currency === "string" ? catalog.currency.toUpperCase() : "";
  catalogState.exponent = Number.isInteger(catalog.currency_exponent) ? catalog.currency_exponent : null;
  const triggers = catalog.triggers && typeof catalog.triggers === "object" ? catalog.triggers : {};
  const lists = Object.entries(triggers).filter(([, t]) => t && Array.isArray(t.money));
  catalogState.money = lists.length ? Object.fromEntries(lists.map(([name, t]) => [name, t.money.map(String)])) : null;
}

/** Digits after the point for a currency: the catalog's exponent for the program currency,
 * else the ISO table (JPY 0, KWD/BHD 3, default 2). */
export function exponentOf(currency) {
  const code = String(currency || "").toUpperCase();
  if (catalogState.exponent !== null && code && code === catalogState.currency) return catalogState.exponent;
  return code in EXPONENTS ? EXPONENTS[code] : 2;
}

/** Whether a condition field holds money (minor units of the program currency). With a
 * trigger: that trigger's list; without one: any trigger's. */
export function isMoneyField(field, trigger) {
  if (typeof field !== "string" || !field) return false;
  if (catalogState.money) {
    if (trigger) return (catalogState.money[trigger] || []).includes(field);
    return Object.values(catalogState.money).some((list) => list.includes(field));
  }
  if (!FALLBACK_MONEY.includes(field)) return false;
  return trigger ? MONEY_TRIGGERS.includes(trigger) : true;
}

/** An integer amount of minor units as a major-unit string: 500000, 2 -> "5000.00". Exact
 * for any safe integer (and bigint). Not an integer: null. */
export function minorToMajorText(amount, exponent) {
  let digits;
  if (typeof amount === "bigint") digits = String(amount);
  else if (Number.isSafeInteger(amount)) digits = String(amount);
  else return null;
  const negative = digits.startsWith("-");
  if (negative) digits = digits.slice(1);
  if (exponent === 0) return (negative ? "-" : "") + digits;
  digits = digits.padStart(exponent + 1, "0");
  return `${negative ? "-" : ""}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/** "5000", "5,000.5", "-0.25" -> minor units (integer), or null when it is not an amount
 * with at most `exponent` decimals or is beyond a safe integer. Commas and spaces between
 * digit groups are allowed. */
export function majorTextToMinor(text, exponent) {
  const cleaned = String(text ?? "").trim().replace(/(\d)[,\s_](?=\d)/g, "$1");
  const match = /^([-+]?)(\d*)(?:\.(\d*))?$/.exec(cleaned);
  if (!match) return null;
  const [, sign, whole, fraction = ""] = match;
  if (!whole && !fraction) return null;
  if (fraction.length > exponent) return null;
  const digits = (whole || "0") + fraction.padEnd(exponent, "0");
  const minor = Number(digits);
  if (!Number.isSafeInteger(minor)) return null;
  return sign === "-" && minor !== 0 ? -minor : minor;
}

const groupThousands = (whole) => whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

const symbols = new Map();
/** The currency's symbol ("₹", "$", "¥"), else its code. */
export function currencySymbol(currency) {
  const code = String(currency || "").toUpperCase();
  if (!symbols.has(code)) {
    let symbol = code;
    try {
      const parts = new Intl.NumberFormat("en", { style: "currency", currency: code, currencyDisplay: "narrowSymbol" }).formatToParts(0);
      symbol = parts.find((p) => p.type === "currency")?.value || code;
    } catch {
      symbol = code;
    }
    symbols.set(code, symbol);
  }
  return symbols.get(code);
}

/** Minor units as people read them: 500000, "INR" -> "₹ 5,000.00" (not an integer: the
 * value as JSON, so a wrong value is visible, never hidden). */
export function formatMoney(amount, currency) {
  const text = minorToMajorText(amount, exponentOf(currency));
  if (text === null) return amount === undefined ? "" : JSON.stringify(amount);
  const negative = text.startsWith("-");
  const [whole, fraction] = (negative ? text.slice(1) : text).split(".");
  const shown = groupThousands(whole) + (fraction !== undefined ? `.${fraction}` : "");
  return `${negative ? "-" : ""}${currencySymbol(currency)} ${shown}`;
}

/** The text an amount input shows (major units, no grouping): 500000 -> "5000.00". */
export function moneyInputText(amount, currency) {
  if (amount === undefined || amount === null) return "";
  const text = minorToMajorText(amount, exponentOf(currency));
  return text === null ? String(amount) : text;
}

/** What an author typed, in minor units (null: not an amount in that currency). */
export function parseMoney(text, currency) {
  return majorTextToMinor(text, exponentOf(currency));
}

/** Basis points as a percent string: 1050 -> "10.5", 1000 -> "10", 5 -> "0.05". */
export function bpsToPercentText(bps) {
  const text = minorToMajorText(bps, 2);
  if (text === null) return bps === undefined || bps === null ? "" : String(bps);
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

/** "10.5" (percent) -> 1050 basis points; null when it has more than 2 decimals. */
export function percentTextToBps(text) {
  return majorTextToMinor(String(text ?? "").replace(/%\s*$/, ""), 2);
}

// ---------------------------------------------------------------- schedule times (UTC)

const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(:\d{2}(?:\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;

/** A stored RFC 3339 time as a datetime-local box shows it, in UTC ("2026-01-31T09:30" or with
 * seconds); "" when it is not one (the box then stays empty and the server names the problem). */
export function utcInputValue(text) {
  if (typeof text !== "string") return "";
  const match = RFC3339.exec(text.trim());
  if (!match) return "";
  const [, , , seconds, offset] = match;
  let iso = text.trim();
  if (!/^[Zz]$|^[+-]00:00$/.test(offset)) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "";
    iso = date.toISOString();
  }
  const whole = iso.slice(0, 19).replace(" ", "T");
  return seconds && seconds.slice(0, 3) !== ":00" ? whole : whole.slice(0, 16);
}

/** A datetime-local value read as UTC -> RFC 3339 ("2026-01-31T09:30:00Z"); null when empty
 * or not a time. */
export function rfc3339FromUtcInput(value) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?(?:\.\d+)?$/.exec(String(value ?? "").trim());
  if (!match) return null;
  const text = `${match[1]}T${match[2]}${match[3] || ":00"}Z`;
  return Number.isNaN(new Date(text).getTime()) ? null : text;
}
