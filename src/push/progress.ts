/** How far a push is, as its progress line and its periodic log line say it. */
export interface PushProgress {
  /** Records read so far, and the bytes they took (of `size`, when the input is a file). */
  read: number;
  bytes: number;
  size?: number;
  delivered: number;
  unchanged: number;
  failed: number;
  elapsedMs: number;
}

const count = (n: number): string => n.toLocaleString('en');

/** `Pushing: read 12,400 (31%) · delivered 11,900 · 850/s · ETA 42 s` (no share or ETA for stdin). */
export function progressLine({ read, bytes, size, delivered, unchanged, failed, elapsedMs }: PushProgress): string {
  const perSecond = elapsedMs > 0 ? Math.round((delivered * 1000) / elapsedMs) : 0;
  const parts = [`read ${count(read)}`];
  if (size) parts[0] += ` (${Math.floor(Math.min(1, bytes / size) * 100)}%)`;
  parts.push(`delivered ${count(delivered)}`);
  if (unchanged > 0) parts.push(`unchanged ${count(unchanged)}`);
  if (failed > 0) parts.push(`failed ${count(failed)}`);
  parts.push(`${count(perSecond)}/s`);
  const eta = etaSeconds(bytes, size, elapsedMs);
  if (eta !== undefined) parts.push(`ETA ${formatEta(eta)}`);
  return `Pushing: ${parts.join(' · ')}`;
}

/** The time left, from the share of the file read so far (the reader keeps pace with sending). */
export function etaSeconds(bytes: number, size: number | undefined, elapsedMs: number): number | undefined {
  if (!size || bytes <= 0 || elapsedMs <= 0) return undefined;
  const fraction = Math.min(1, bytes / size);
  return Math.round(((1 - fraction) * elapsedMs) / fraction / 1000);
}

function formatEta(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
