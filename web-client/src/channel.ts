// A small async queue: producers push, one consumer iterates with `for await`.

export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T>) => void) | null = null;
  private failWaiting: ((e: unknown) => void) | null = null;
  private ended = false;
  private error: unknown = null;

  push(item: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const w = this.waiting;
      this.clear();
      w({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** End with an error, after the items already queued. */
  fail(e: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = e;
    if (this.failWaiting) {
      const f = this.failWaiting;
      this.clear();
      f(e);
    }
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.waiting) {
      const w = this.waiting;
      this.clear();
      w({ value: undefined, done: true });
    }
  }

  get closed(): boolean {
    return this.ended;
  }

  private clear(): void {
    this.waiting = null;
    this.failWaiting = null;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) {
          return Promise.resolve({ value: this.items.shift() as T, done: false });
        }
        if (this.ended) {
          return this.error !== null
            ? Promise.reject(this.error)
            : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise<IteratorResult<T>>((resolve, reject) => {
          this.waiting = resolve;
          this.failWaiting = reject;
        });
      },
      return: () => {
        this.end();
        this.items = [];
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
