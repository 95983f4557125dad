// The home page's chart: clicks, referrals and conversions (bars, left axis) and earnings
// (a line, right axis, in major units with the currency) per day, from the numbers the page
// embeds with json_script. Chart.js is the admin's UMD build from node_modules (window.Chart).
const data = JSON.parse(document.getElementById("portal-chart-data").textContent);
const Chart = window.Chart;
const css = getComputedStyle(document.documentElement);
const colour = (name) => css.getPropertyValue(name).trim();
const scale = 10 ** data.exponent;
const money = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: data.exponent,
  maximumFractionDigits: data.exponent,
});
const day = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });

Chart.defaults.color = colour("--muted");
Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

new Chart(document.getElementById("portal-chart"), {
  data: {
    labels: data.labels.map((iso) => day.format(new Date(`${iso}T00:00:00Z`))),
    datasets: [
      { type: "bar", label: "Clicks", data: data.clicks, backgroundColor: "#93c5fd", yAxisID: "count" },
      { type: "bar", label: "Referrals", data: data.referrals, backgroundColor: "#1d4ed8", yAxisID: "count" },
      { type: "bar", label: "Conversions", data: data.conversions, backgroundColor: "#166534", yAxisID: "count" },
      {
        type: "line",
        label: `Earnings (${data.currency})`,
        data: data.earnings.map((minor) => minor / scale),
        borderColor: "#854d0e",
        backgroundColor: "#854d0e",
        yAxisID: "money",
        tension: 0.2,
      },
    ],
  },
  options: {
    // No motion for people who asked for none (and for the phone test's screenshot).
    animation: window.matchMedia("(prefers-reduced-motion: reduce)").matches ? false : undefined,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: "index", intersect: false },
    scales: {
      x: { ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 } },
      count: { position: "left", beginAtZero: true, ticks: { precision: 0 } },
      money: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } },
    },
    plugins: {
      legend: { position: "bottom" },
      tooltip: {
        callbacks: {
          label: (ctx) =>
            ctx.dataset.yAxisID === "money"
              ? `Earnings: ${money.format(ctx.parsed.y)} ${data.currency}`
              : `${ctx.dataset.label}: ${ctx.parsed.y}`,
        },
      },
    },
  },
});
