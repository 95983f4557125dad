// The X6 canvas: node shape, plugins (history, selection, snaplines, keyboard, minimap, dnd),
// connection rules, and drawing each node from its data. Node text is set through X6 `text`
// attributes, which X6 writes with textContent: rule JSON never becomes markup.
import {
  describeAction,
  describeValue,
  layoutTree,
  NODE_SIZE,
  ruleToGraph,
  truncate,
} from "./convert.js";

const X6 = window.X6;

export const KIND_STYLE = {
  trigger: { fill: "#fff3d6", stroke: "#b7791f", badge: "TRIGGER" },
  group: { fill: "#e8eaf6", stroke: "#3949ab", badge: "GROUP" },
  leaf: { fill: "#fdecea", stroke: "#c62828", badge: "CONDITION" },
  action: { fill: "#e3f4e6", stroke: "#2e7d32", badge: "ACTION" },
};

export const TRACE_STYLE = {
  true: { fill: "#a5d6a7", stroke: "#1b5e20", label: "true" },
  false: { fill: "#ef9a9a", stroke: "#b71c1c", label: "false" },
  none: { fill: "#e0e0e0", stroke: "#9e9e9e", label: "not evaluated" },
  skipped: { fill: "#ffe0b2", stroke: "#e65100", label: "skipped" },
};

const PROBLEM_STROKE = "#d50000";

// Which kinds a node may have as children (edges run parent -> child).
const CHILD_KINDS = {
  trigger: ["group", "action"],
  group: ["group", "leaf"],
  leaf: [],
  action: [],
};

const GROUP_TEXT = {
  AND: "all of these hold",
  OR: "any of these holds",
  NOT: "this does not hold",
};

const portGroup = (position) => ({
  position,
  attrs: {
    circle: { r: 7, magnet: true, stroke: "#555", strokeWidth: 1.5, fill: "#fff" },
  },
});

let registered = false;
function registerShape() {
  if (registered) return;
  registered = true;
  const text = (y, size, weight = "normal") => ({
    refX: 12,
    refY: y,
    fontSize: size,
    fontWeight: weight,
    fill: "#222",
    textAnchor: "start",
    textVerticalAnchor: "middle",
    fontFamily: "system-ui, sans-serif",
  });
  X6.Graph.registerNode(
    "rule-node",
    {
      inherit: "rect",
      markup: [
        { tagName: "rect", selector: "body", className: "rule-body" },
        { tagName: "text", selector: "badge", className: "rule-badge" },
        { tagName: "text", selector: "line1", className: "rule-line1" },
        { tagName: "text", selector: "line2", className: "rule-line2" },
        { tagName: "text", selector: "line3", className: "rule-line3" },
        { tagName: "text", selector: "note", className: "rule-note" },
      ],
      attrs: {
        body: { refWidth: "100%", refHeight: "100%", rx: 8, ry: 8, strokeWidth: 2 },
        badge: { ...text(12, 10, "bold"), fill: "#555", letterSpacing: 1 },
        line1: text(30, 13, "bold"),
        line2: text(48, 12),
        line3: text(65, 12),
        note: { ...text(82, 11), fill: "#333" },
      },
      ports: { groups: { in: portGroup("left"), out: portGroup("right") } },
    },
    true,
  );
}

function portsFor(kind) {
  const items = [];
  if (kind !== "trigger") items.push({ id: "in", group: "in" });
  if (CHILD_KINDS[kind]?.length) items.push({ id: "out", group: "out" });
  return items;
}

/** The text lines a node shows, from its data (and the catalog's action types). */
export function nodeText(data, currency, actions = []) {
  switch (data?.kind) {
    case "trigger": {
      const rule = data.rule || {};
      const extra = [];
      if (rule.priority !== undefined) extra.push(`priority ${rule.priority}`);
      if (rule.stop_processing) extra.push("stops later rules");
      return [
        String(rule.trigger || "(choose a trigger)"),
        truncate(rule.name ?? "(unnamed rule)", 32),
        extra.join(" · "),
      ];
    }
    case "group": {
      const op = data.group?.operator;
      return [String(op ?? "?"), GROUP_TEXT[op] || "", ""];
    }
    case "leaf": {
      const cond = data.cond;
      if (cond === null || typeof cond !== "object" || Array.isArray(cond)) {
        return ["(not a condition)", truncate(JSON.stringify(cond) ?? "", 32), ""];
      }
      return [
        truncate(cond.field || "(choose a field)", 32),
        String(cond.operator || "(choose an operator)").replaceAll("_", " "),
        truncate(describeValue(cond), 32),
      ];
    }
    case "action": {
      const { title, lines } = describeAction(data.action, currency, actions);
      return [title, truncate(lines[0] ?? "", 32), truncate(lines.slice(1).filter(Boolean).join(" · "), 32)];
    }
    default:
      return ["?", "", ""];
  }
}

/**
 * Attributes for a node: kind colours, or a trace result; a problem outlines it in red and
 * writes the message under the text.
 */
export function nodeAttrs(data, { currency = "", actions = [], problem = "", trace = null, selected = false } = {}) {
  const kind = data?.kind in KIND_STYLE ? data.kind : "leaf";
  const style = trace ? TRACE_STYLE[trace.result] || TRACE_STYLE.none : KIND_STYLE[kind];
  const [line1, line2, line3] = nodeText(data, currency, actions);
  let note = "";
  if (problem) note = `⚠ ${truncate(problem, 36)}`;
  else if (trace) {
    note = TRACE_STYLE[trace.result]?.label || "";
    if (trace.actual !== undefined && kind === "leaf") {
      note += ` · actual ${trace.actual === null ? "missing" : truncate(JSON.stringify(trace.actual), 22)}`;
    } else if (trace.result === "skipped") note += ` · ${truncate(String(trace.actual), 24)}`;
  }
  return {
    body: {
      fill: style.fill,
      stroke: problem ? PROBLEM_STROKE : style.stroke,
      strokeWidth: selected ? 4 : problem ? 3 : 2,
      strokeDasharray: problem ? "6 3" : null,
      "data-kind": kind,
      "data-result": trace ? trace.result : "",
      "data-problem": problem ? "true" : "",
    },
    badge: { text: KIND_STYLE[kind].badge },
    line1: { text: line1 },
    line2: { text: line2 },
    line3: { text: line3 },
    note: { text: note, fill: problem ? PROBLEM_STROKE : "#222" },
  };
}

export function nodeConfig(data, position = {}, currency = "", actions = []) {
  registerShape();
  const size = NODE_SIZE[data.kind] || NODE_SIZE.leaf;
  return {
    shape: "rule-node",
    ...position,
    ...size,
    data,
    attrs: nodeAttrs(data, { currency, actions }),
    ports: { items: portsFor(data.kind) },
  };
}

/** Data for a node dragged from the palette (an action's params: its catalog `defaults`). */
export function newNodeData(kind, variant, { trigger, actions = [] }) {
  switch (kind) {
    case "trigger":
      return {
        kind,
        rule: { name: "New rule", trigger: trigger || "", priority: 0, stop_processing: false },
        keys: ["name", "trigger", "priority", "stop_processing", "conditions", "actions"],
      };
    case "group":
      return { kind, group: { operator: variant || "AND" } };
    case "leaf":
      return { kind, cond: { field: "", operator: "equals", value: "" } };
    case "action": {
      const defaults = actions.find((a) => a.type === variant)?.defaults;
      return { kind, action: { type: variant, params: defaults ? JSON.parse(JSON.stringify(defaults)) : {} } };
    }
    default:
      throw new Error(`unknown node kind ${kind}`);
  }
}

const EDGE_ATTRS = {
  line: { stroke: "#6b7280", strokeWidth: 2, targetMarker: { name: "block", width: 10, height: 7 } },
};

export function edgeConfig(source, target) {
  return {
    shape: "edge",
    source: { cell: source, port: "out" },
    target: { cell: target, port: "in" },
    attrs: EDGE_ATTRS,
    connector: { name: "smooth" },
    zIndex: -1,
  };
}

// Cell properties that are presentation, not the rule: undo/redo leaves them alone (they are
// redrawn from the data).
const NOT_HISTORY = new Set(["attrs", "tools", "zIndex", "ports", "size", "markup"]);

export function createGraph({ container, minimap }) {
  registerShape();
  const graph = new X6.Graph({
    container,
    // Rules are small: drawing synchronously keeps the canvas and the panels in step.
    async: false,
    autoResize: true,
    background: { color: "#fafafa" },
    grid: { visible: true, size: 10, type: "dot" },
    panning: { enabled: true },
    mousewheel: { enabled: true, modifiers: ["ctrl", "meta"], minScale: 0.3, maxScale: 2.5 },
    connecting: {
      snap: { radius: 30 },
      allowBlank: false,
      allowLoop: false,
      allowMulti: false,
      allowNode: false,
      allowEdge: false,
      highlight: true,
      connector: { name: "smooth" },
      createEdge() {
        return this.createEdge({ shape: "edge", attrs: EDGE_ATTRS, zIndex: -1 });
      },
      validateMagnet({ magnet }) {
        return magnet.getAttribute("port-group") === "out";
      },
      validateConnection({ sourceCell, targetCell, targetMagnet, edge }) {
        if (!sourceCell || !targetCell || !targetMagnet || sourceCell === targetCell) return false;
        if (targetMagnet.getAttribute("port-group") !== "in") return false;
        const allowed = CHILD_KINDS[sourceCell.getData()?.kind] || [];
        if (!allowed.includes(targetCell.getData()?.kind)) return false;
        // One parent per node: the rule is a tree.
        return !graph.getIncomingEdges(targetCell)?.some((e) => e !== edge);
      },
    },
    highlighting: {
      magnetAvailable: { name: "stroke", args: { padding: 4, attrs: { stroke: "#2563eb", strokeWidth: 2 } } },
      magnetAdsorbed: { name: "stroke", args: { padding: 4, attrs: { stroke: "#16a34a", strokeWidth: 3 } } },
    },
  });
  graph.use(
    new X6.History({
      enabled: true,
      beforeAddCommand(event, args) {
        if (args && args.key && NOT_HISTORY.has(args.key)) return false;
        return true;
      },
    }),
  );
  // The UMD build has no Graph.prototype shortcuts for plugins: callers use these instances.
  const selection = new X6.Selection({ enabled: true, multiple: true, rubberband: true, modifiers: "shift", showNodeSelectionBox: false });
  const keyboard = new X6.Keyboard({ enabled: true, global: true });
  graph.use(selection);
  graph.use(new X6.Snapline({ enabled: true }));
  graph.use(keyboard);
  if (minimap) {
    graph.use(new X6.MiniMap({ container: minimap, width: 200, height: 130, padding: 10 }));
  }
  const dnd = new X6.Dnd({ target: graph, scaled: false });
  return { graph, dnd, selection, keyboard, history: graph.getPlugin("history") };
}

/** The plain graph convert.js works on. */
export function snapshot(graph) {
  return {
    nodes: graph.getNodes().map((node) => {
      const { x, y } = node.getPosition();
      return { id: node.id, data: node.getData(), x, y };
    }),
    edges: graph
      .getEdges()
      .map((edge) => ({ source: edge.getSourceCellId(), target: edge.getTargetCellId() }))
      .filter((e) => e.source && e.target),
  };
}

/**
 * Replaces the canvas with a rule, laid out as a tree. `undoable` keeps it on the undo stack
 * (a draft from text, an import); the first load of the page starts a fresh history.
 */
export function showRule(graph, definition, { currency, actions = [], undoable }) {
  const history = graph.getPlugin("history");
  const tree = ruleToGraph(definition);
  const positions = layoutTree(tree);
  const cells = () => {
    graph.removeCells(graph.getCells());
    const idMap = {};
    for (const node of tree.nodes) {
      idMap[node.id] = graph.addNode(nodeConfig(node.data, positions[node.id], currency, actions)).id;
    }
    for (const edge of tree.edges) graph.addEdge(edgeConfig(idMap[edge.source], idMap[edge.target]));
  };
  if (undoable) {
    graph.batchUpdate("load-rule", cells);
  } else {
    history.disable();
    cells();
    history.enable();
    history.clean();
  }
  graph.centerContent();
}

/** Auto-layout of whatever is on the canvas (one undo step). */
export function layoutCanvas(graph) {
  const positions = layoutTree(snapshot(graph));
  graph.batchUpdate("layout", () => {
    for (const node of graph.getNodes()) {
      const p = positions[node.id];
      if (p) node.setPosition(p.x, p.y);
    }
  });
  graph.centerContent();
}
