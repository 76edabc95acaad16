/**
 * A duration as a person reads it in a message: `45 s`, `2 min`, `1 min 40 s`, `1 h 30 min`.
 * Rounded to the second (to the millisecond below one second).
 */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const min = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const parts = [h > 0 ? `${h} h` : '', min > 0 ? `${min} min` : '', s > 0 && h === 0 ? `${s} s` : ''].filter(Boolean);
  return parts.join(' ');
}
