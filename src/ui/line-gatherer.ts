/** Past this many characters pending, lines are written at once rather than at the end of the turn. */
export const GATHER_MAX_CHARS = 64 * 1024;

/**
 * Lines written within one event-loop turn, joined and handed to `write` in one call when the
 * turn ends (setImmediate), or as soon as GATHER_MAX_CHARS are pending. `sync serve` answers a
 * whole batch of callers in one turn, each with its access line: a synchronous stderr write per
 * line was ~5% of its CPU per answer under wrk (issue 19); one write per turn costs next to nothing
 * per line. Lines keep their order, and are late by at most the rest of the turn that wrote them.
 */
export class LineGatherer {
  private pending: string[] = [];
  private chars = 0;
  private scheduled = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly schedule: (callback: () => void) => void = (callback) => void setImmediate(callback),
  ) {}

  push(line: string): void {
    this.pending.push(line);
    this.chars += line.length;
    if (this.chars >= GATHER_MAX_CHARS) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Writes everything pending now (nothing when nothing is). */
  flush(): void {
    if (this.pending.length === 0) return;
    const text = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
    this.pending = [];
    this.chars = 0;
    this.write(text);
  }
}
