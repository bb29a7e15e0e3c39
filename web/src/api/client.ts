// The console's only way to the node: JSON over /api/v1 with a bearer access token kept in
// memory. The refresh token never reaches a script: the login asks the API to keep it in the
// HttpOnly `vms_refresh` cookie, and a 401 trades it once for a new access token.

/** An error answered by the API (or the network), with what the console shows of it. */
export class ApiError extends Error {
  /** HTTP status; 0 when the node could not be reached. */
  readonly status: number;
  /** The API's error code (`invalid`, `forbidden`, ...). */
  readonly code: string;
  /** The request field the error names, when it names one. */
  readonly field?: string;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /** The permission a 403 says is missing (`users:read`), when it says one. */
  get permission(): string | undefined {
    return this.status === 403 ? /permission ([a-z_]+:[a-z_]+)/.exec(this.message)?.[1] : undefined;
  }
}

/** Query parameters: undefined and empty values are left out. */
export type Query = Record<string, string | number | boolean | undefined | null>;

/** Builds `path?query` with the empty values left out. */
export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}${path.includes('?') ? '&' : '?'}${s}` : path;
}

/** Reads the API's error shape `{error: {code, message, field}}` from a failed answer. */
export async function errorOf(res: Response): Promise<ApiError> {
  let code = 'http_' + res.status;
  let message = `${res.status} ${res.statusText}`.trim();
  let field: string | undefined;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
      field = body.error.field ?? undefined;
    }
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(res.status, code, message, field);
}

/** What a client is made with; `fetch` is replaceable for tests. */
export interface ClientOptions {
  base?: string;
  fetch?: typeof fetch;
  /** Called when the session is gone for good (refresh refused). */
  onSignedOut?: () => void;
}

/** A short-lived token for players that cannot send headers. */
export interface StreamToken {
  token: string;
  expires_at: string;
  playlist_url: string;
}

/** The API client. */
export class Client {
  private access: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  private readonly tokens = new Map<string, StreamToken>();
  private readonly base: string;
  private readonly fetcher: typeof fetch;
  onSignedOut?: () => void;

  constructor(opts: ClientOptions = {}) {
    this.base = opts.base ?? '/api/v1';
    this.fetcher = opts.fetch ?? ((input, init) => fetch(input, init));
    this.onSignedOut = opts.onSignedOut;
  }

  /** Whether an access token is held. */
  get signedIn(): boolean {
    return this.access !== null;
  }

  /** Signs in; the refresh token goes into the HttpOnly cookie. */
  async login(email: string, password: string): Promise<void> {
    const res = await this.raw('POST', '/auth/login', { email, password, refresh_cookie: true }, false);
    if (!res.ok) throw await errorOf(res);
    this.access = (await res.json()).access_token;
  }

  /** Trades the refresh cookie for a new access token; false when there is no session. */
  refresh(): Promise<boolean> {
    // Concurrent 401s share one refresh: each refresh token is good once.
    this.refreshing ??= (async () => {
      try {
        const res = await this.raw('POST', '/auth/refresh', {}, false);
        if (!res.ok) {
          this.access = null;
          return false;
        }
        this.access = (await res.json()).access_token;
        return true;
      } catch {
        return false;
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  /** Ends the session (and its cookie). */
  async logout(): Promise<void> {
    try {
      if (this.access) await this.raw('POST', '/auth/logout', undefined, true);
    } finally {
      this.access = null;
      this.tokens.clear();
    }
  }

  /** One request; JSON in and out. A 401 refreshes once and retries; 204 answers undefined. */
  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const url = withQuery(path, query);
    const res = await this.retried(() => this.raw(method, url, body, true));
    if (res.status === 401) {
      this.access = null;
      this.onSignedOut?.();
    }
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return undefined as T;
    const type = res.headers.get('content-type') ?? '';
    return (type.includes('json') ? await res.json() : await res.text()) as T;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, undefined, query);
  }
  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, body ?? {});
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, body);
  }
  del(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }

  /** Every item of a paged list (following `next_cursor`, at most `max` items). */
  async all<T>(path: string, query: Query = {}, max = 5000): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.get<{ items: T[]; next_cursor?: string | null }>(path, {
        ...query,
        limit: 1000,
        cursor,
      });
      items.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor && items.length < max);
    return items;
  }

  /** A stream token for `camera`'s players, reused until a minute before it expires. */
  async streamToken(camera: string): Promise<StreamToken> {
    const held = this.tokens.get(camera);
    if (held && Date.parse(held.expires_at) - Date.now() > 60_000) return held;
    const token = await this.post<StreamToken>(`/cameras/${camera}/stream-token`, { ttl_seconds: 3600 });
    this.tokens.set(camera, token);
    return token;
  }

  /** A fetch with the access token, for bodies read as they arrive (SSE) or as bytes. */
  async stream(path: string, query?: Query, signal?: AbortSignal): Promise<Response> {
    const url = withQuery(path, query);
    const res = await this.retried(() => this.raw('GET', url, undefined, true, signal));
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  /** Sends once; on a 401, refreshes once and sends again. */
  private async retried(send: () => Promise<Response>): Promise<Response> {
    const res = await send();
    return res.status === 401 && (await this.refresh()) ? send() : res;
  }

  /** Raw request to the API; `auth` adds the bearer token. */
  async raw(method: string, path: string, body: unknown, auth: boolean, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = {};
    if (auth && this.access) headers.Authorization = `Bearer ${this.access}`;
    let payload: BodyInit | undefined;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = typeof body === 'string' ? body : JSON.stringify(body);
    }
    try {
      return await this.fetcher(this.base + path, { method, headers, body: payload, credentials: 'same-origin', signal });
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the node: ${(e as Error).message}`);
    }
  }
}

/** Parses server-sent events from a text stream: calls `onEvent` with each `data:` payload. */
export function sseParser(onEvent: (event: string, data: string) => void): (chunk: string) => void {
  let buffer = '';
  return (chunk: string) => {
    buffer += chunk.replace(/\r\n/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const name = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (name === 'event') event = value;
        else if (name === 'data') data.push(value);
      }
      if (data.length) onEvent(event, data.join('\n'));
    }
  };
}

/** Follows an SSE route until `signal` aborts, reconnecting after a drop. */
export async function follow(
  client: Client,
  path: string,
  query: Query,
  onData: (data: string) => void,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await client.stream(path, query, signal);
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      const feed = sseParser((_, data) => onData(data));
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        feed(value);
      }
    } catch {
      if (signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
