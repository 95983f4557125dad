// The X6 canvas: node shape, plugins (history, selection, snaplines, keyboard, minimap, dnd),
// connection rules, and drawing each node from its data. Node text is set through X6 `text`
// attributes, which X6 writes with textContent: rule JSON never becomes markup.
import {
  childrenOf,
  describeAction,
  describeValue,
  graphToRule,
  layoutTree,
  NODE_SIZE,
  ruleToGraph,
  truncate,
} from "./convert.js";
import { installCanvasTools } from "./search.js";

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

// Outlines drawn around a node, apart from its kind/trace/problem colours (those belong to
// nodeAttrs): "halo" shows a version diff, "mark" a search match or a drop target.
export const DIFF_STYLE = {
  added: { stroke: "#16a34a", label: "added" },
  removed: { stroke: "#dc2626", label: "removed" },
  changed: { stroke: "#d97706", label: "changed" },
};
const MARK_STYLE = {
  match: { stroke: "#60a5fa", strokeWidth: 4 },
  current: { stroke: "#1d4ed8", strokeWidth: 7 },
  drop: { stroke: "#2563eb", strokeWidth: 5, strokeDasharray: "8 4" },
};

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
        { tagName: "rect", selector: "halo", className: "rule-halo" },
        { tagName: "rect", selector: "mark", className: "rule-mark" },
        { tagName: "rect", selector: "body", className: "rule-body" },
        { tagName: "text", selector: "badge", className: "rule-badge" },
        { tagName: "text", selector: "line1", className: "rule-line1" },
        { tagName: "text", selector: "line2", className: "rule-line2" },
        { tagName: "text", selector: "line3", className: "rule-line3" },
        { tagName: "text", selector: "note", className: "rule-note" },
        { tagName: "text", selector: "flag", className: "rule-flag" },
        { tagName: "rect", selector: "toggle", className: "rule-toggle" },
        { tagName: "text", selector: "toggleText", className: "rule-toggle-text" },
      ],
      attrs: {
        body: { refWidth: "100%", refHeight: "100%", rx: 8, ry: 8, strokeWidth: 2 },
        badge: { ...text(12, 10, "bold"), fill: "#555", letterSpacing: 1 },
        line1: text(30, 13, "bold"),
        line2: text(48, 12),
        line3: text(65, 12),
        note: { ...text(82, 11), fill: "#333" },
        halo: {
          refX: -7, refY: -7, refWidth: "100%", refHeight: "100%", refWidth2: 14, refHeight2: 14,
          rx: 12, ry: 12, fill: "none", stroke: "none", strokeWidth: 4, pointerEvents: "none",
        },
        mark: {
          refX: -4, refY: -4, refWidth: "100%", refHeight: "100%", refWidth2: 8, refHeight2: 8,
          rx: 10, ry: 10, fill: "none", stroke: "none", strokeWidth: 4, pointerEvents: "none",
        },
        flag: {
          refX: "100%", refX2: -8, refY: 12, fontSize: 10, fontWeight: "bold", textAnchor: "end",
          textVerticalAnchor: "middle", fontFamily: "system-ui, sans-serif", fill: "#222", text: "",
          pointerEvents: "none",
        },
        toggle: {
          refX: "100%", refX2: -30, refY: "100%", refY2: -30, width: 24, height: 24, rx: 5, ry: 5,
          fill: "#fff", stroke: "#3949ab", strokeWidth: 1.5, cursor: "pointer", display: "none",
        },
        toggleText: {
          refX: "100%", refX2: -18, refY: "100%", refY2: -18, fontSize: 16, fontWeight: "bold",
          textAnchor: "middle", textVerticalAnchor: "middle", fill: "#3949ab", pointerEvents: "none",
          fontFamily: "system-ui, sans-serif", text: "", display: "none",
        },
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
      const hidden = Number.isInteger(data.collapsed) ? data.collapsed : null;
      return [
        String(op ?? "?"),
        GROUP_TEXT[op] || "",
        hidden === null ? "" : `▸ ${hidden} condition${hidden === 1 ? "" : "s"}`,
      ];
    }
    case "leaf": {
      const cond = data.cond;
      if (cond === null || typeof cond !== "object" || Array.isArray(cond)) {
        return ["(not a condition)", truncate(JSON.stringify(cond) ?? "", 32), ""];
      }
      return [
        truncate(cond.field || "(choose a field)", 32),
        String(cond.operator || "(choose an operator)").replaceAll("_", " "),
        truncate(describeValue(cond, { currency }), 32),
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
    toggle: { display: kind === "group" ? "block" : "none", "data-collapsed": isCollapsed(data) ? "true" : "" },
    toggleText: { display: kind === "group" ? "block" : "none", text: isCollapsed(data) ? "+" : "−" },
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
const NOT_HISTORY = new Set(["attrs", "tools", "zIndex", "ports", "size", "markup", "visible"]);

/** Changes made with this option (collapsing, its layout) are views, not undo steps. */
const VIEW = { ignoreHistory: true };

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
      // Dropping an edge on a node's body connects it too (to its "in" port: edge:connected).
      allowNode: true,
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
        if (!sourceCell || !targetCell || sourceCell === targetCell || !targetCell.isVisible()) return false;
        if (targetMagnet && targetMagnet.getAttribute("port-group") !== "in") return false;
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
        if (args?.options?.ignoreHistory) return false;
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
  let dropping = null;
  const dnd = new X6.Dnd({
    target: graph,
    scaled: false,
    // Remembers the node a palette drag drops, so node:added can connect it to what it lands on.
    validateNode(node) {
      dropping = node;
      return true;
    },
  });
  installBehaviour(graph, selection, () => {
    const node = dropping;
    dropping = null;
    return node;
  });
  if (container?.parentElement) {
    installCanvasTools(graph, container.parentElement);
    keepSize(graph, container);
  }
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
  collapseBigRule(tree);
  const positions = layoutTree(tree);
  const cells = () => {
    graph.removeCells(graph.getCells());
    const idMap = {};
    for (const node of tree.nodes) {
      idMap[node.id] = graph.addNode(nodeConfig(node.data, positions[node.id], currency, actions)).id;
    }
    for (const edge of tree.edges) graph.addEdge(edgeConfig(idMap[edge.source], idMap[edge.target]));
  };
  loading += 1;
  try {
    if (undoable) {
      graph.batchUpdate("load-rule", cells);
    } else {
      history.disable();
      cells();
      history.enable();
      history.clean();
    }
  } finally {
    loading -= 1;
  }
  syncCollapse(graph);
  fitView(graph);
}

/** Conditions above which a loaded rule opens with its groups (below the top one) collapsed,
 * so it fits the canvas readably; each collapsed group shows how many conditions it holds. */
export const BIG_RULE_LEAVES = 60;

function collapseBigRule(tree) {
  const byId = new Map(tree.nodes.map((n) => [n.id, n]));
  if (tree.nodes.filter((n) => n.data?.kind === "leaf").length <= BIG_RULE_LEAVES) return;
  const kids = childrenOf(tree);
  const leavesUnder = (id) =>
    (kids[id] || []).reduce((sum, child) => sum + (byId.get(child)?.data?.kind === "leaf" ? 1 : 0) + leavesUnder(child), 0);
  const top = new Set((kids[tree.rootId] || []).filter((id) => byId.get(id)?.data?.kind === "group"));
  for (const node of tree.nodes) {
    if (node.data?.kind === "group" && !top.has(node.id)) node.data = { ...node.data, collapsed: leavesUnder(node.id) };
  }
}

/** Auto-layout of whatever is on the canvas (one undo step); collapsed groups take one row. */
export function layoutCanvas(graph, { fit = true, undoable = true } = {}) {
  const positions = layoutTree(snapshot(graph));
  const move = () => {
    for (const node of graph.getNodes()) {
      const p = positions[node.id];
      const now = node.getPosition();
      if (p && (p.x !== now.x || p.y !== now.y)) node.setPosition(p.x, p.y, undoable ? {} : VIEW);
    }
  };
  if (undoable) graph.batchUpdate("layout", move);
  else move();
  if (fit) fitView(graph);
}

/**
 * Keeps the graph's size the canvas box's size. X6 writes its size onto the container, and a
 * flex item keeps that size as it shrinks (the panels under the canvas grow), so X6's own
 * observer can miss it; fitting and centring then aim below the visible canvas.
 */
function keepSize(graph, container) {
  const sync = () => {
    const width = container.clientWidth;
    const height = container.clientHeight;
    if (width && height && (graph.options.width !== width || graph.options.height !== height)) {
      graph.resize(width, height);
    }
  };
  container.style.overflow = "hidden";
  if (typeof ResizeObserver !== "undefined") new ResizeObserver(sync).observe(container.parentElement);
  return sync;
}

/** Zooms to show the whole rule (never beyond 100%), centred. */
export function fitView(graph) {
  if (!graph.getNodes().some((n) => n.isVisible())) return;
  const container = graph.container;
  if (container?.clientWidth && container?.clientHeight) {
    if (graph.options.width !== container.clientWidth || graph.options.height !== container.clientHeight) {
      graph.resize(container.clientWidth, container.clientHeight);
    }
  }
  graph.zoomToFit({ padding: 40, maxScale: 1, minScale: 0.05 });
  graph.centerContent();
}

// ------------------------------------------------------------------ collapsing groups

let loading = 0;

export function isCollapsed(data) {
  return data?.kind === "group" && Number.isInteger(data.collapsed);
}

function descendants(graph, node) {
  const out = [];
  const walk = (n) => {
    for (const child of graph.getNeighbors(n, { outgoing: true })) {
      if (out.includes(child)) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(node);
  return out;
}

/** Shows and hides nodes and edges: a node is hidden when a collapsed group is above it. */
// Per graph: each collapsed group's hidden nodes (deleting the group deletes them too).
const hiddenUnder = new WeakMap();

export function syncCollapse(graph) {
  const kids = childrenOf(snapshot(graph));
  const hidden = new Set();
  const under = new Map();
  const hide = (id, into) => {
    for (const child of kids[id] || []) {
      if (into.includes(child)) continue;
      into.push(child);
      hidden.add(child);
      hide(child, into);
    }
  };
  for (const node of graph.getNodes()) {
    if (!isCollapsed(node.getData())) continue;
    const into = [];
    hide(node.id, into);
    under.set(node.id, into);
  }
  hiddenUnder.set(graph, under);
  for (const node of graph.getNodes()) {
    const visible = !hidden.has(node.id);
    if (node.isVisible() !== visible) node.setVisible(visible, VIEW);
  }
  for (const edge of graph.getEdges()) {
    const visible = !hidden.has(edge.getTargetCellId()) && !hidden.has(edge.getSourceCellId());
    if (edge.isVisible() !== visible) edge.setVisible(visible, VIEW);
  }
  return hidden;
}

/** Collapses (true) or expands (false) a group, then lays the canvas out again. */
export function setCollapsed(graph, node, collapsed, { layout = true } = {}) {
  const data = node?.getData();
  if (data?.kind !== "group" || isCollapsed(data) === collapsed) return;
  const next = { ...data };
  if (collapsed) {
    next.collapsed = descendants(graph, node).filter((n) => n.getData()?.kind === "leaf").length;
  } else delete next.collapsed;
  node.setData(next, { overwrite: true, ...VIEW });
  syncCollapse(graph);
  if (layout) layoutCanvas(graph, { fit: false, undoable: false });
}

export function toggleCollapsed(graph, node) {
  setCollapsed(graph, node, !isCollapsed(node.getData()));
}

/** Collapses every group below the top one (true) or expands them all (false). */
export function collapseAll(graph, collapsed) {
  const groups = graph.getNodes().filter((n) => n.getData()?.kind === "group");
  for (const group of groups) {
    const parent = graph.getNeighbors(group, { incoming: true })[0];
    const top = parent?.getData()?.kind === "trigger";
    if (!collapsed || !top) setCollapsed(graph, group, collapsed, { layout: false });
  }
  syncCollapse(graph);
  layoutCanvas(graph, { fit: true, undoable: false });
}

/** Expands the collapsed groups above a node so it shows; true when anything changed. */
export function revealNode(graph, node) {
  let changed = false;
  let parent = graph.getNeighbors(node, { incoming: true })[0];
  const seen = new Set();
  while (parent && !seen.has(parent.id)) {
    seen.add(parent.id);
    if (isCollapsed(parent.getData())) {
      setCollapsed(graph, parent, false, { layout: false });
      changed = true;
    }
    parent = graph.getNeighbors(parent, { incoming: true })[0];
  }
  if (changed) {
    syncCollapse(graph);
    layoutCanvas(graph, { fit: false, undoable: false });
  }
  return changed;
}

// ------------------------------------------------------------------ dropping on a node's body

const kindOf = (cell) => cell?.getData()?.kind;

/** The visible node under a point, other than `except` (topmost first). */
function nodeAt(graph, point, except) {
  const found = graph.getNodesFromPoint(point).filter((n) => n !== except && n.isVisible());
  return found[found.length - 1] || null;
}

/** Whether dropping `node` on `target` connects them, and which way: [parent, child] or null. */
export function dropConnection(graph, node, target) {
  if (!node || !target) return null;
  if ((CHILD_KINDS[kindOf(target)] || []).includes(kindOf(node))) return [target, node];
  const orphan = !graph.getIncomingEdges(target)?.length;
  if (orphan && (CHILD_KINDS[kindOf(node)] || []).includes(kindOf(target))) return [node, target];
  return null;
}

/**
 * A node dropped on another node's body connects to it (as its child, or as the parent of an
 * unconnected node) and moves beside it, below its other children: one undo step.
 */
export function connectByDrop(graph, node, point = null) {
  if (!node || !graph.hasCell(node)) return false;
  const target = nodeAt(graph, point || node.getBBox().getCenter(), node);
  const pair = dropConnection(graph, node, target);
  if (!pair) return false;
  const [parent, child] = pair;
  if (parent === child || descendants(graph, child).includes(parent)) return false;
  graph.batchUpdate("drop-connect", () => {
    for (const edge of graph.getIncomingEdges(child) || []) graph.removeEdge(edge);
    graph.addEdge(edgeConfig(parent.id, child.id));
    if (child === node) {
      const siblings = graph.getNeighbors(parent, { outgoing: true }).filter((n) => n !== child && n.isVisible());
      const box = parent.getBBox();
      const x = box.x + box.width + 70;
      const y = siblings.length ? Math.max(...siblings.map((n) => n.getBBox().bottom)) + 24 : box.y;
      child.setPosition(x, y);
    } else {
      const box = child.getBBox();
      node.setPosition(box.x - node.getSize().width - 70, box.y);
    }
  });
  return true;
}

// The search's mark on each node, restored when a drop-target outline goes.
const searchMarks = new WeakMap();

function setMark(node, kind) {
  const style = MARK_STYLE[kind];
  node.attr("mark", style ? { ...style, strokeDasharray: style.strokeDasharray || null, "data-mark": kind } : { stroke: "none", "data-mark": "" }, VIEW);
}

/** Marks a node as a search match ("match" | "current") or unmarks it (null). */
export function markNode(node, kind) {
  if (kind) searchMarks.set(node, kind);
  else searchMarks.delete(node);
  setMark(node, kind);
}

function installBehaviour(graph, selection, takeDropped) {
  // Moving several selected nodes together rearranges them; only a single node connects.
  const alone = (node) => selection.getSelectedCells().filter((c) => c.isNode() && c !== node).length === 0;
  let dropTarget = null;
  const clearDropTarget = () => {
    if (dropTarget && graph.hasCell(dropTarget)) setMark(dropTarget, searchMarks.get(dropTarget) || null);
    dropTarget = null;
  };
  // Where the pointer is (graph coordinates): what the author drops on.
  const pointer = (x, y) => (Number.isFinite(x) && Number.isFinite(y) ? { x, y } : null);
  graph.on("node:moving", ({ node, x, y }) => {
    const target = nodeAt(graph, pointer(x, y) || node.getBBox().getCenter(), node);
    const next = alone(node) && dropConnection(graph, node, target) ? target : null;
    if (next === dropTarget) return;
    clearDropTarget();
    if (next) {
      dropTarget = next;
      setMark(next, "drop");
    }
  });
  graph.on("node:moved", ({ node, x, y }) => {
    clearDropTarget();
    if (alone(node)) connectByDrop(graph, node, pointer(x, y));
  });
  graph.on("node:added", ({ node }) => {
    if (loading) return;
    const dropped = takeDropped();
    if (dropped && dropped.id === node.id) connectByDrop(graph, node);
  });
  // An edge dropped on a node's body ends at the node's "in" port, as every other edge.
  graph.on("edge:connected", ({ edge }) => {
    const target = edge.getTargetCell();
    if (target && !edge.getTargetPortId() && target.hasPort("in")) edge.setTarget({ cell: target.id, port: "in" });
  });
  graph.on("node:click", ({ e, node }) => {
    if (e?.target?.classList?.contains("rule-toggle")) toggleCollapsed(graph, node);
  });
  // Deleting or undoing may leave nodes under no collapsed group: show them again. Deleting a
  // collapsed group deletes what it hides (in the same undo step).
  // After the change that caused it (a deletion first removes the group's edges, then the
  // group: the group's hidden nodes must still be known when the group goes).
  let pending = false;
  const resync = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      syncCollapse(graph);
    });
  };
  graph.on("cell:removed", ({ cell }) => {
    if (!loading && cell?.isNode?.() && isCollapsed(cell.getData())) {
      const inside = (hiddenUnder.get(graph)?.get(cell.id) || []).map((id) => graph.getCellById(id)).filter(Boolean);
      if (inside.length) graph.removeCells(inside);
    }
    resync();
  });
  // An edit makes a version diff on the canvas stale: its outlines go.
  const edited = ({ options }) => {
    if (!loading && !options?.ignoreHistory) clearDiff(graph);
  };
  graph.on("node:change:data", edited);
  graph.on("edge:connected", edited);
  graph.on("cell:removed", edited);
  graph.on("node:change:data", resync);
  graph.on("edge:added", resync);
  // Selecting a hidden node (a problem's link, a search) opens the groups above it.
  graph.on("selection:changed", ({ added }) => {
    for (const cell of added || []) if (cell.isNode() && !cell.isVisible()) revealNode(graph, cell);
  });
}

// ------------------------------------------------------------------ version diff on the canvas

/**
 * Outlines the nodes a version diff touches: statusByPath maps a definition path of a node
 * ("$.conditions.conditions[0]", "$.actions[1]", "$") to "added" | "removed" | "changed".
 * Collapsed groups above a highlighted node open. Returns the number of nodes highlighted.
 */
export function highlightDiff(graph, statusByPath) {
  clearDiff(graph);
  const { paths } = graphToRule(snapshot(graph));
  let count = 0;
  for (const [path, status] of Object.entries(statusByPath || {})) {
    const style = DIFF_STYLE[status];
    const node = paths[path] ? graph.getCellById(paths[path]) : null;
    if (!style || !node) continue;
    node.attr({ halo: { stroke: style.stroke, "data-diff": status }, flag: { text: style.label, fill: style.stroke } }, VIEW);
    revealNode(graph, node);
    count += 1;
  }
  return count;
}

function clearDiff(graph) {
  for (const node of graph.getNodes()) {
    if (node.attr("halo/data-diff")) node.attr({ halo: { stroke: "none", "data-diff": "" }, flag: { text: "" } }, VIEW);
  }
}

/** Removes every diff and search highlight. */
export function clearHighlights(graph) {
  clearDiff(graph);
  for (const node of graph.getNodes()) {
    if (node.attr("mark/data-mark")) markNode(node, null);
  }
}
