// Images attached to the next message: a picker button, paste or drop into
// the composer, thumbnails with a remove button, limits with a clear
// message. Each becomes an `image` part (base64 without a `data:` prefix);
// its media type comes from its bytes, which is what Bedrock checks.

import { el } from './dom';
import type { ImageMediaType, ImagePart } from './types';

/** Bedrock's limit for one image. */
export const MAX_IMAGE_BYTES = 3_750_000;
/** Bedrock's limit for images in one message. */
export const MAX_IMAGES = 20;

export interface AttachmentsUi {
  /** Where the thumbnails go (in the composer). */
  list: HTMLElement;
  button: HTMLButtonElement;
  input: HTMLInputElement;
  /** Takes pasted images. */
  prompt: HTMLTextAreaElement;
  /** Takes dropped images. */
  dropZone: HTMLElement;
  error: HTMLElement;
}

interface Pending {
  name: string;
  part: ImagePart;
}

export class Attachments {
  private items: Pending[] = [];
  private reading: Promise<void> = Promise.resolve();

  constructor(private readonly ui: AttachmentsUi) {
    ui.button.addEventListener('click', () => ui.input.click());
    ui.input.addEventListener('change', () => {
      this.add([...(ui.input.files ?? [])]);
      ui.input.value = '';
    });
    ui.prompt.addEventListener('paste', (e) => {
      const files = [...(e.clipboardData?.files ?? [])].filter((f) => f.type.startsWith('image/'));
      if (files.length === 0) return;
      // Pasting a copied image would otherwise insert nothing (or its file name).
      if (!e.clipboardData?.types.includes('text/plain')) e.preventDefault();
      this.add(files);
    });
    ui.dropZone.addEventListener('dragover', (e) => {
      if (e.dataTransfer?.types.includes('Files')) e.preventDefault();
    });
    ui.dropZone.addEventListener('drop', (e) => {
      const files = [...(e.dataTransfer?.files ?? [])];
      if (files.length === 0) return;
      e.preventDefault();
      this.add(files);
    });
  }

  get count(): number {
    return this.items.length;
  }

  /** The images read so far, once every file being read is done; the composer is emptied. */
  async take(): Promise<ImagePart[]> {
    await this.reading;
    const parts = this.items.map((i) => i.part);
    this.clear();
    return parts;
  }

  clear(): void {
    this.items = [];
    this.showError([]);
    this.render();
  }

  add(files: File[]): void {
    this.reading = this.reading.then(() => this.read(files));
  }

  private async read(files: File[]): Promise<void> {
    const problems: string[] = [];
    for (const file of files) {
      const name = file.name || 'The pasted image';
      if (this.items.length >= MAX_IMAGES) {
        problems.push(`A message can carry at most ${MAX_IMAGES} images.`);
        break;
      }
      if (file.size > MAX_IMAGE_BYTES) {
        problems.push(`${name} is ${megabytes(file.size)}; an image can be at most ${megabytes(MAX_IMAGE_BYTES)}.`);
        continue;
      }
      try {
        const mediaType = sniff(new Uint8Array(await file.slice(0, 16).arrayBuffer()));
        if (!mediaType) {
          problems.push(`${name} is not a PNG, JPEG, GIF or WebP image.`);
          continue;
        }
        this.items.push({ name, part: { type: 'image', mediaType, data: await base64(file) } });
      } catch {
        problems.push(`${name} could not be read.`);
      }
    }
    this.showError(problems);
    this.render();
  }

  private render(): void {
    this.ui.list.replaceChildren(
      ...this.items.map((item) => {
        const remove = el('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${item.name}` }, '×');
        remove.addEventListener('click', () => {
          this.items = this.items.filter((i) => i !== item);
          this.render();
          this.ui.prompt.focus();
        });
        return el('figure', { class: 'thumb', title: item.name }, thumbnail(item.part, item.name), remove);
      }),
    );
    this.ui.list.hidden = this.items.length === 0;
  }

  private showError(problems: string[]): void {
    this.ui.error.textContent = problems.join(' ');
    this.ui.error.hidden = problems.length === 0;
  }
}

/** An `<img>` of an image part (a `data:` URL: the page's CSP allows those, not `blob:`). */
export function thumbnail(part: ImagePart, alt = 'Attached image'): HTMLImageElement {
  const img = el('img', { src: `data:${part.mediaType};base64,${part.data}`, alt, 'data-testid': 'thumbnail' });
  img.decoding = 'async';
  return img;
}

/** The media type the bytes say they are (their magic number), if one Bedrock takes. */
export function sniff(b: Uint8Array): ImageMediaType | null {
  const at = (i: number, ...xs: number[]) => xs.every((x, k) => b[i + k] === x);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return null;
}

function base64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'));
    reader.readAsDataURL(file);
  });
}

function megabytes(n: number): string {
  return `${(n / 1_000_000).toFixed(n < 10_000_000 ? 2 : 1).replace(/\.?0+$/, '')} MB`;
}
