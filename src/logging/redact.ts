/**
 * Credentials in URLs, hidden without parsing them. A password holding an unencoded `#`, `/` or
 * `?` ends a URL parser's authority early (`redis://:s3cr#t/pw@host` parses, if at all, as host
 * `` with a fragment), so anything that relies on a parser to find the password shows it.
 * Instead: everything between the first `//` and the LAST `@` is hidden, user name included
 * (tokens are put there: `https://TOKEN:x-oauth-basic@host`). This hides too much when an `@`
 * follows the host (`http://h/?to=a@b` → `http://***@b`); that is the safe side.
 */
const MASK = '***';

/** One whole value that may hold credentials: a flag's or a variable's, spaces and all. */
export function redactValue(value: string): string {
  const start = value.indexOf('//');
  if (start < 0) return value;
  const at = value.lastIndexOf('@');
  if (at < start + 2) return value;
  return `${value.slice(0, start + 2)}${MASK}${value.slice(at)}`;
}

/**
 * Free text (a message, a log line): each whitespace-delimited word is redacted on its own, so
 * an email later in the text does not swallow what lies between. Applied to every message the
 * CLI prints and every log message, since a refused URL is echoed back by the very error that
 * refuses it. A password holding a space is beyond it: such a value is never put in a message
 * raw (see `redactValue`).
 */
export function redactCredentials(text: string): string {
  if (!text.includes('@')) return text;
  return text.replace(/\S+/g, redactValue);
}
