// HTTP API client. Every failure becomes an ApiError with the wire error
// code (or 'network'), so views can show a short sentence, never a dead page.
import { session } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter || 0;
  }
  // missing is true when the endpoint (or the thing asked for) is not there.
  get missing() { return this.status === 404 || this.status === 405 || this.status === 501; }
  // routeMissing is true when the server has no such endpoint at all (as
  // opposed to an endpoint that found no such thing).
  get routeMissing() {
    return this.status === 405 || this.status === 501 || this.code === 'http_404'
      || (this.status === 404 && /^not found: \/api\//.test(this.message || ''));
  }
}

export async function api(path, { method = 'GET', body, auth = false, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const bearer = token || (auth ? session.token : null);
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', "Can’t reach the server.");
  }
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    const e = data && data.error ? data.error : {};
    const err = new ApiError(res.status, e.code || `http_${res.status}`, e.message || res.statusText,
      Number(res.headers.get('Retry-After')) || 0);
    // A token the server refuses is dropped: the player signs in again.
    if (res.status === 401 && bearer && bearer === session.token) session.clear();
    throw err;
  }
  if (data === null && res.status !== 204) {
    // A 200 that is not JSON (e.g. the page itself): the endpoint is not there.
    throw new ApiError(404, 'not_found', 'Not available.');
  }
  return data;
}

// Games are fetched once per page load and shared.
let gamesPromise = null;
export function getGames() {
  if (!gamesPromise) {
    gamesPromise = api('/api/games').then((list) => (Array.isArray(list) ? list : []))
      .catch((e) => { gamesPromise = null; throw e; });
  }
  return gamesPromise;
}
