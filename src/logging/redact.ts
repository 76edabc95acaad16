/**
 * `http://user:secret@host/` → `http://user:***@host/`, wherever a URL appears in a text. A URL
 * with only a user part (`https://TOKEN@host`) loses it too: that is how tokens are usually put
 * there. Applied to every message the CLI prints, since a refused URL is echoed back by the very
 * error that refuses it.
 */
export function redactCredentials(text: string): string {
  if (!text.includes('@')) return text;
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@'"]*)@/gi, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return `${scheme}${colon >= 0 ? `${userinfo.slice(0, colon)}:***` : '***'}@`;
  });
}
