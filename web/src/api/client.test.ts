import { describe, expect, it, vi } from 'vitest';
import { ApiError, Client, errorOf, sseParser, withQuery } from './client';

/** A fetch that answers from a list of [status, body, headers] in order and records requests. */
function fakeFetch(answers: [number, unknown, Record<string, string>?][]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const [status, body, headers] = answers.shift() ?? [500, { error: { code: 'x', message: 'no answer left' } }];
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return new Response(status === 204 ? null : text, {
      status,
      headers: { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers },
    });
  });
  return { fn: fn as unknown as typeof fetch, calls };
}

const PAIR = { access_token: 'A1', token_type: 'Bearer', expires_in: 900, refresh_token: '', refresh_expires_in: 86400 };

describe('Client', () => {
  it('asks for the refresh cookie at login and sends the access token after', async () => {
    const f = fakeFetch([[200, PAIR], [200, { items: [] }]]);
    const c = new Client({ fetch: f.fn });
    await c.login('a@b.c', 'pw');
    expect(JSON.parse(String(f.calls[0].init.body))).toEqual({ email: 'a@b.c', password: 'pw', refresh_cookie: true });
    await c.get('/cameras');
    expect((f.calls[1].init.headers as Record<string, string>).Authorization).toBe('Bearer A1');
    expect(f.calls[1].url).toBe('/api/v1/cameras');
  });

  it('refreshes once on a 401 and retries the request', async () => {
    const f = fakeFetch([[200, PAIR], [401, { error: { code: 'unauthorized', message: 'expired' } }], [200, { ...PAIR, access_token: 'A2' }], [200, { ok: true }]]);
    const c = new Client({ fetch: f.fn });
    await c.login('a@b.c', 'pw');
    expect(await c.get('/x')).toEqual({ ok: true });
    expect(f.calls[2].url).toBe('/api/v1/auth/refresh');
    expect(f.calls[2].init.body).toBe('{}');
    expect((f.calls[3].init.headers as Record<string, string>).Authorization).toBe('Bearer A2');
  });

  it('signs out when the refresh is refused', async () => {
    const f = fakeFetch([[401, { error: { code: 'unauthorized', message: 'expired' } }], [401, { error: { code: 'unauthorized', message: 'gone' } }]]);
    const signedOut = vi.fn();
    const c = new Client({ fetch: f.fn, onSignedOut: signedOut });
    await expect(c.get('/x')).rejects.toMatchObject({ status: 401 });
    expect(signedOut).toHaveBeenCalledOnce();
    expect(c.signedIn).toBe(false);
  });

  it('shares one refresh between concurrent 401s', async () => {
    let refreshes = 0;
    const fn = (async (url: RequestInfo | URL) => {
      if (String(url).endsWith('/auth/refresh')) {
        refreshes++;
        await new Promise((r) => setTimeout(r, 10));
        return new Response(JSON.stringify(PAIR), { status: 200 });
      }
      return new Response('{}', { status: 401 });
    }) as typeof fetch;
    const c = new Client({ fetch: fn });
    await Promise.all([c.refresh(), c.refresh(), c.refresh()]);
    expect(refreshes).toBe(1);
  });

  it('answers undefined for 204', async () => {
    const f = fakeFetch([[204, '']]);
    expect(await new Client({ fetch: f.fn }).del('/rules/1')).toBeUndefined();
  });

  it('follows next_cursor through every page', async () => {
    const f = fakeFetch([[200, { items: [1, 2], next_cursor: 'c2' }], [200, { items: [3], next_cursor: null }]]);
    const all = await new Client({ fetch: f.fn }).all<number>('/cameras', { tenant_id: 't' });
    expect(all).toEqual([1, 2, 3]);
    expect(f.calls[1].url).toContain('cursor=c2');
    expect(f.calls[0].url).toContain('tenant_id=t');
  });

  it('reuses a stream token until a minute before it expires', async () => {
    const later = new Date(Date.now() + 3600_000).toISOString();
    const f = fakeFetch([[200, { token: 'T', expires_at: later, playlist_url: '' }]]);
    const c = new Client({ fetch: f.fn });
    await c.streamToken('cam');
    await c.streamToken('cam');
    expect(f.calls.length).toBe(1);
  });

  it('turns a network failure into status 0', async () => {
    const c = new Client({ fetch: (async () => { throw new TypeError('failed to fetch'); }) as typeof fetch });
    await expect(c.get('/x')).rejects.toMatchObject({ status: 0, code: 'network' });
  });
});

describe('errors', () => {
  it('reads the field and message of the API error body', async () => {
    const e = await errorOf(new Response(JSON.stringify({ error: { code: 'invalid', message: 'name is empty', field: 'name' } }), { status: 400 }));
    expect(e).toBeInstanceOf(ApiError);
    expect([e.status, e.code, e.field, e.message]).toEqual([400, 'invalid', 'name', 'name is empty']);
  });

  it('keeps the status line when the body is not JSON', async () => {
    const e = await errorOf(new Response('<html>', { status: 502, statusText: 'Bad Gateway' }));
    expect(e.message).toBe('502 Bad Gateway');
  });

  it('names the missing permission of a 403', () => {
    const e = new ApiError(403, 'forbidden', 'this needs the permission users:read, which your role does not have');
    expect(e.permission).toBe('users:read');
    expect(new ApiError(400, 'invalid', 'permission x:y').permission).toBeUndefined();
  });
});

describe('withQuery', () => {
  it('leaves out empty values and joins with & after an existing query', () => {
    expect(withQuery('/e', { a: 1, b: '', c: undefined, d: null, e: false })).toBe('/e?a=1&e=false');
    expect(withQuery('/e?x=1', { a: 'b c' })).toBe('/e?x=1&a=b+c');
    expect(withQuery('/e')).toBe('/e');
  });
});

describe('sseParser', () => {
  it('joins chunks, skips comments and splits events', () => {
    const got: [string, string][] = [];
    const feed = sseParser((ev, data) => got.push([ev, data]));
    feed(': keep-alive\n\ndata: {"a"');
    feed(':1}\n\nevent: escalation\ndata: x\ndata: y\n\n');
    expect(got).toEqual([
      ['message', '{"a":1}'],
      ['escalation', 'x\ny'],
    ]);
  });
});
