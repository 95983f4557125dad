// The rules HTTP API (SPEC §6) with the staff session: same-origin cookies, and the CSRF token
// on unsafe methods. Errors are problem+json; ApiError keeps its code and errors list.

export class ApiError extends Error {
  constructor(status, body) {
    const detail = body && typeof body === "object" ? body.detail || body.title : null;
    super(detail || `The server answered ${status}.`);
    this.status = status;
    this.code = body?.code || "";
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
    this.body = body;
  }
}

export function createApi({ apiBase, csrfToken }) {
  // One request at a time, in the order they were made: a save never overtakes the
  // validation before it, and the embedded SQLite server never sees two at once.
  let queue = Promise.resolve();
  function request(method, path, body) {
    const run = queue.then(() => send(method, path, body));
    queue = run.catch(() => undefined);
    return run;
  }

  async function send(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    let response;
    try {
      response = await fetch(apiBase + path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, { detail: `The server could not be reached (${error.message}).` });
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: `The server answered ${response.status} with a non-JSON body.` };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
  return {
    get: (path) => request("GET", path),
    post: (path, body = {}) => request("POST", path, body),
    put: (path, body) => request("PUT", path, body),
    delete: (path) => request("DELETE", path),
  };
}

/** A list endpoint's items, whether paginated ({results}) or a bare array. */
export function items(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.results)) return data.results;
  return [];
}
