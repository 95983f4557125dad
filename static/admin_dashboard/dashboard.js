// The admin index dashboard: three Chart.js charts over the numbers the page embeds with
// json_script (no extra request). Chart.js is the UMD build from node_modules (window.Chart).

const data = JSON.parse(document.getElementById("dashboard-data").textContent);
const Chart = window.Chart;
const money = (minor) => `${minor} ${data.currency}`;

function draw(id, config) {
  const canvas = document.getElementById(id);
  canvas.chart = new Chart(canvas, {
    ...config,
    options: { responsive: true, maintainAspectRatio: false, animation: false, ...config.options },
  });
}

draw("chart-per-day", {
  type: "bar",
  data: {
    labels: data.per_day.labels,
    datasets: [
      { label: "Rewards issued", data: data.per_day.count, yAxisID: "count" },
      { label: `Amount (${data.currency}, minor units)`, data: data.per_day.amount, type: "line", yAxisID: "amount" },
    ],
  },
  options: {
    plugins: { title: { display: true, text: "Rewards issued per day (last 30 days)" } },
    scales: {
      count: { position: "left", beginAtZero: true, ticks: { precision: 0 } },
      amount: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
    },
  },
});

const statuses = ["pending", "confirmed", "paid"];
draw("chart-totals", {
  type: "doughnut",
  data: {
    labels: statuses,
    datasets: [{ data: statuses.map((s) => data.totals[s].amount) }],
  },
  options: {
    plugins: {
      title: { display: true, text: "Reward totals by status" },
      tooltip: { callbacks: { label: (ctx) => `${ctx.label}: ${money(ctx.raw)}` } },
    },
  },
});

draw("chart-top", {
  type: "bar",
  data: {
    labels: data.top_referrers.map((r) => r.beneficiary),
    datasets: [{ label: `Rewards (${data.currency}, minor units)`, data: data.top_referrers.map((r) => r.amount) }],
  },
  options: {
    indexAxis: "y",
    plugins: { title: { display: true, text: "Top referrers" }, legend: { display: false } },
  },
});
