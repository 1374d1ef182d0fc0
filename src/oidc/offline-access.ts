// offline_access (a refresh token) is honoured by oidc-provider only with prompt=consent (OpenID Connect Core
// 11). Roster's clients are their organisation's own applications: asking for offline_access is asking for
// it. A module of its own, with no imports, so the benchmark's bare provider can do the same work without
// loading Roster.

/**
 * A koa middleware for the provider: an authorization request (GET) that asks for offline_access gets
 * prompt=consent added (unless it says prompt=none), so the provider honours it; the pages pass the consent
 * step at once. Used by the benchmark's bare provider too, which must do the same work.
 */
export function offlineAccessWithoutConsentScreen(authorizationPath: string) {
  return async (ctx: { path: string; method: string; querystring: string }, next: () => Promise<unknown>) => {
    if (ctx.path === authorizationPath && ctx.method === 'GET') {
      const query = new URLSearchParams(ctx.querystring);
      const prompts = (query.get('prompt') ?? '').split(' ').filter(Boolean);
      if ((query.get('scope') ?? '').split(' ').includes('offline_access') && !prompts.includes('none') && !prompts.includes('consent')) {
        query.set('prompt', [...prompts, 'consent'].join(' '));
        ctx.querystring = query.toString();
      }
    }
    await next();
  };
}
