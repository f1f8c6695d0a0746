// Node has no XMLHttpRequest: this stub sends the request with node:http, writing the body in
// 16 KiB pieces and reporting each as an upload progress event, like a browser does. Only what
// the client uses is here. (The browser's real XHR is exercised by the Chromium end-to-end run.)
import { request } from 'node:http';

type Handler = ((ev: { loaded: number; total: number; lengthComputable: boolean }) => void) | null;

export class XhrStub {
  static sent = 0;
  upload: { onprogress: Handler } = { onprogress: null };
  onload: (() => void) | null = null;
  onerror: (() => void) | null = null;
  ontimeout: (() => void) | null = null;
  onabort: (() => void) | null = null;
  status = 0;
  responseText = '';
  private headers: Record<string, string | string[] | undefined> = {};
  private method = 'GET';
  private url = '';
  private req: ReturnType<typeof request> | null = null;
  private aborted = false;

  open(method: string, url: string) {
    this.method = method;
    this.url = url;
  }

  getResponseHeader(name: string): string | null {
    const v = this.headers[name.toLowerCase()];
    return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
  }

  abort() {
    this.aborted = true;
    this.req?.destroy();
    this.onabort?.();
  }

  send(body: FormData) {
    XhrStub.sent++;
    void (async () => {
      const encoded = new Response(body);
      const type = encoded.headers.get('content-type') ?? '';
      const bytes = Buffer.from(await encoded.arrayBuffer());
      const req = request(this.url, {
        method: this.method,
        headers: { 'content-type': type, 'content-length': String(bytes.length) },
      });
      this.req = req;
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          this.status = res.statusCode ?? 0;
          this.headers = res.headers;
          this.responseText = Buffer.concat(chunks).toString('utf8');
          this.onload?.();
        });
      });
      req.on('error', () => {
        if (!this.aborted) this.onerror?.();
      });
      const piece = 16 * 1024;
      for (let off = 0; off < bytes.length && !this.aborted; off += piece) {
        const part = bytes.subarray(off, off + piece);
        if (!req.write(part)) await new Promise((r) => req.once('drain', r));
        this.upload.onprogress?.({ loaded: Math.min(off + piece, bytes.length), total: bytes.length, lengthComputable: true });
      }
      req.end();
    })();
  }
}
