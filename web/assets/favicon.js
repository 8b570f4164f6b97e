// The red dot on the page's favicon while unread bell items exist (when the user wants it).

const SIZE = 64;

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.crossOrigin = 'anonymous';
    img.onload = () => resolve(img);
    img.onerror = reject;
    img.src = src;
  });
}

export class FaviconDot {
  constructor(fallbackIcon) {
    this.fallback = fallbackIcon;
    this.link = null;
    this.original = null;
    this.created = false;
    this.on = false;
    this.seq = 0;
  }

  findLink() {
    if (this.link && this.link.isConnected) return this.link;
    let link = document.querySelector('link[rel~="icon"]');
    if (!link) {
      link = document.createElement('link');
      link.rel = 'icon';
      link.href = this.fallback;
      document.head.appendChild(link);
      this.created = true;
    }
    this.link = link;
    this.original = link.getAttribute('href');
    return link;
  }

  async set(on) {
    if (on === this.on) return;
    this.on = on;
    const seq = ++this.seq;
    const link = this.findLink();
    if (!on) {
      link.setAttribute('href', this.original);
      delete link.dataset.varselDot;
      return;
    }
    const url = await this.draw(new URL(this.original, document.baseURI).href);
    if (seq !== this.seq) return; // switched again meanwhile
    link.setAttribute('href', url);
    link.dataset.varselDot = 'on';
  }

  async draw(src) {
    const canvas = document.createElement('canvas');
    canvas.width = SIZE;
    canvas.height = SIZE;
    const g = canvas.getContext('2d');
    for (const candidate of [src, this.fallback]) {
      try {
        const img = await loadImage(candidate);
        g.clearRect(0, 0, SIZE, SIZE);
        g.drawImage(img, 0, 0, SIZE, SIZE);
        canvas.toDataURL(); // throws when a foreign icon tainted the canvas
        break;
      } catch {
        g.clearRect(0, 0, SIZE, SIZE);
      }
    }
    const r = SIZE * 0.22;
    const cx = SIZE - r - 2;
    const cy = r + 2;
    g.beginPath();
    g.arc(cx, cy, r + 3, 0, 2 * Math.PI);
    g.fillStyle = '#ffffff';
    g.fill();
    g.beginPath();
    g.arc(cx, cy, r, 0, 2 * Math.PI);
    g.fillStyle = '#e11d48';
    g.fill();
    return canvas.toDataURL('image/png');
  }
}
