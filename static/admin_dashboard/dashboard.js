// The admin index dashboard: three Chart.js charts over the numbers the page embeds with
// json_script (no extra request). Chart.js is the UMD build from node_modules (window.Chart).
// The data stays in minor units (as the ledger stores it); axes and tooltips show major units
// with the currency, formatted like the rest of the console ("1,646.00 INR").

// Picking another program shows its dashboard (a listener, not an inline handler: the
// Content-Security-Policy allows no inline script).
const picker = document.getElementById("dashboard-program");
picker.addEventListener("change", () => picker.form.submit());

const data = JSON.parse(document.getElementById("dashboard-data").textContent);
const Chart = window.Chart;
const scale = 10 ** data.exponent;
const number = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: data.exponent,
  maximumFractionDigits: data.exponent,
});
// Axis ticks drop the fraction when it is zero, so "2,000" rather than "2,000.00".
const compact = new Intl.NumberFormat("en-US", { maximumFractionDigits: data.exponent });
const money = (minor) => `${number.format(minor / scale)} ${data.currency}`;
const tick = (minor) => compact.format(minor / scale);
const rewards = (n) => `${n} reward${n === 1 ? "" : "s"}`;

const css = getComputedStyle(document.documentElement);
const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
Chart.defaults.color = colour("--body-quiet-color", "#666");
Chart.defaults.borderColor = colour("--hairline-color", "#e8e8e8");
Chart.defaults.font.family = colour("--font-family-primary", Chart.defaults.font.family);

const STATUS_COLOURS = { pending: "#e0a100", confirmed: "#1e88e5", paid: "#43a047" };
const AMOUNT_AXIS = `Amount (${data.currency})`;

function draw(id, config) {
  const canvas = document.getElementById(id);
  canvas.chart = new Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
}

const shortDay = (iso) => {
  const [, month, day] = iso.split("-");
  const names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return `${Number(day)} ${names[Number(month) - 1]}`;
};

draw("chart-per-day", {
  type: "bar",
  data: {
    labels: data.per_day.labels,
    datasets: [
      {
        label: "Rewards issued",
        data: data.per_day.count,
        yAxisID: "count",
        backgroundColor: "rgba(30, 136, 229, 0.35)",
        borderColor: "#1e88e5",
        borderWidth: 1,
      },
      {
        label: AMOUNT_AXIS,
        data: data.per_day.amount,
        type: "line",
        yAxisID: "amount",
        borderColor: "#e0a100",
        backgroundColor: "#e0a100",
        pointRadius: 2,
      },
    ],
  },
  options: {
    interaction: { mode: "index", intersect: false },
    plugins: {
      title: { display: true, text: "Rewards issued per day (last 30 days)" },
      tooltip: {
        callbacks: {
          title: (items) => shortDay(data.per_day.labels[items[0].dataIndex]),
          label: (ctx) =>
            ctx.dataset.yAxisID === "amount" ? `Amount: ${money(ctx.raw)}` : `Issued: ${rewards(ctx.raw)}`,
        },
      },
    },
    scales: {
      x: {
        ticks: {
          maxRotation: 0,
          autoSkip: true,
          maxTicksLimit: 10,
          callback: (value, index) => shortDay(data.per_day.labels[index]),
        },
      },
      count: {
        position: "left",
        beginAtZero: true,
        title: { display: true, text: "Rewards" },
        ticks: { precision: 0 },
      },
      amount: {
        position: "right",
        beginAtZero: true,
        title: { display: true, text: AMOUNT_AXIS },
        grid: { drawOnChartArea: false },
        ticks: { callback: tick },
      },
    },
  },
});

const statuses = ["pending", "confirmed", "paid"];
draw("chart-totals", {
  type: "doughnut",
  data: {
    labels: statuses.map((s) => s[0].toUpperCase() + s.slice(1)),
    datasets: [
      {
        data: statuses.map((s) => data.totals[s].amount),
        backgroundColor: statuses.map((s) => STATUS_COLOURS[s]),
      },
    ],
  },
  options: {
    plugins: {
      title: { display: true, text: `Reward totals by status (${data.currency})` },
      legend: { position: "right" },
      tooltip: {
        callbacks: {
          label: (ctx) =>
            `${ctx.label}: ${money(ctx.raw)} (${rewards(data.totals[statuses[ctx.dataIndex]].count)})`,
        },
      },
    },
  },
});

// Top referrers: the participants who referred the most people (bars), with what they earned.
const referrals = (n) => `${n} referral${n === 1 ? "" : "s"}`;
draw("chart-top", {
  type: "bar",
  data: {
    labels: data.top_referrers.map((r) => r.referrer),
    datasets: [
      {
        label: "Referrals",
        data: data.top_referrers.map((r) => r.referrals),
        backgroundColor: "rgba(67, 160, 71, 0.45)",
        borderColor: "#43a047",
        borderWidth: 1,
      },
    ],
  },
  options: {
    indexAxis: "y",
    plugins: {
      title: { display: true, text: "Top referrers by referrals" },
      legend: { display: false },
      tooltip: {
        callbacks: {
          label: (ctx) =>
            `${referrals(ctx.raw)}, earned ${money(data.top_referrers[ctx.dataIndex].amount)}`,
        },
      },
    },
    scales: {
      x: {
        beginAtZero: true,
        title: { display: true, text: "Referrals" },
        ticks: { precision: 0 },
      },
    },
  },
});
