// The console's analytics page: the funnel (clicks → referrals → conversions → rewards) per day
// and the reward amounts per day, from the JSON the page embeds (json_script). Chart.js is the
// UMD build from node_modules (window.Chart), as on the dashboard. Amounts arrive in minor units
// and show in major units with the currency ("1,646.00 INR").

const data = JSON.parse(document.getElementById("analytics-data").textContent);
const Chart = window.Chart;
const scale = 10 ** data.exponent;
const number = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: data.exponent,
  maximumFractionDigits: data.exponent,
});
const compact = new Intl.NumberFormat("en-US", { maximumFractionDigits: data.exponent });

const css = getComputedStyle(document.documentElement);
const colour = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
Chart.defaults.color = colour("--body-quiet-color", "#666");
Chart.defaults.borderColor = colour("--hairline-color", "#e8e8e8");
Chart.defaults.font.family = colour("--font-family-primary", Chart.defaults.font.family);

function draw(id, config) {
  const canvas = document.getElementById(id);
  canvas.chart = new Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
}

const line = (label, values, color) => ({
  label,
  data: values,
  borderColor: color,
  backgroundColor: color,
  pointRadius: 2,
  tension: 0.2,
});

draw("chart-funnel", {
  type: "line",
  data: {
    labels: data.labels,
    datasets: [
      line("Clicks", data.clicks, "#1e88e5"),
      line("Referrals", data.referrals, "#8e24aa"),
      line("Conversions", data.conversions, "#e0a100"),
      line("Rewards", data.rewards, "#43a047"),
    ],
  },
  options: {
    interaction: { mode: "index", intersect: false },
    scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
  },
});

draw("chart-amounts", {
  type: "bar",
  data: {
    labels: data.labels,
    datasets: [
      {
        label: `Rewards created (${data.currency})`,
        data: data.amount,
        backgroundColor: "rgba(67, 160, 71, 0.35)",
        borderColor: "#43a047",
        borderWidth: 1,
      },
    ],
  },
  options: {
    scales: { y: { beginAtZero: true, ticks: { callback: (v) => compact.format(v / scale) } } },
    plugins: {
      tooltip: {
        callbacks: { label: (c) => `${number.format(c.parsed.y / scale)} ${data.currency}` },
      },
    },
  },
});
