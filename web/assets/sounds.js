// The six pop-up sounds, synthesized with the Web Audio API (no sound files, nothing to
// license). `none` is silence. `schedule()` draws a sound on any audio context, so the
// tests can render each one offline and compare them.

export const SOUNDS = ['chime', 'bell', 'pop', 'ding', 'marimba', 'knock'];
export const SOUND_CHOICES = [...SOUNDS, 'none'];

/** One decaying tone. */
function tone(ctx, dest, { freq, t0, type = 'sine', attack = 0.004, decay = 0.6, peak = 0.25, freqEnd }) {
  const osc = ctx.createOscillator();
  osc.type = type;
  osc.frequency.setValueAtTime(freq, t0);
  if (freqEnd) osc.frequency.exponentialRampToValueAtTime(freqEnd, t0 + attack + decay);
  const g = ctx.createGain();
  g.gain.setValueAtTime(0.0001, t0);
  g.gain.exponentialRampToValueAtTime(peak, t0 + attack);
  g.gain.exponentialRampToValueAtTime(0.0001, t0 + attack + decay);
  osc.connect(g).connect(dest);
  osc.start(t0);
  osc.stop(t0 + attack + decay + 0.05);
}

/** A short filtered noise burst with a low thump: a knuckle on wood. */
function knock(ctx, dest, t0) {
  const len = Math.floor(ctx.sampleRate * 0.12);
  const buf = ctx.createBuffer(1, len, ctx.sampleRate);
  const data = buf.getChannelData(0);
  // A fixed pseudo-random sequence: the same knock every time.
  let seed = 1234567;
  for (let i = 0; i < len; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    data[i] = (seed / 0x3fffffff - 1) * (1 - i / len);
  }
  const src = ctx.createBufferSource();
  src.buffer = buf;
  const bp = ctx.createBiquadFilter();
  bp.type = 'bandpass';
  bp.frequency.value = 320;
  bp.Q.value = 2.5;
  const g = ctx.createGain();
  g.gain.setValueAtTime(0.9, t0);
  g.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.09);
  src.connect(bp).connect(g).connect(dest);
  src.start(t0);
  src.stop(t0 + 0.12);
  tone(ctx, dest, { freq: 150, freqEnd: 70, t0, decay: 0.08, peak: 0.5 });
}

const RECIPES = {
  // A rising major triad of soft bells.
  chime(ctx, d, t0) {
    [1046.5, 1318.5, 1568].forEach((f, i) => {
      tone(ctx, d, { freq: f, t0: t0 + i * 0.12, decay: 0.9, peak: 0.16 });
      tone(ctx, d, { freq: f * 2, t0: t0 + i * 0.12, decay: 0.4, peak: 0.03 });
    });
  },
  // A struck bell: inharmonic partials with long tails.
  bell(ctx, d, t0) {
    const f = 587.3;
    [[1, 0.28, 1.6], [2, 0.1, 1.2], [2.76, 0.1, 0.9], [5.4, 0.05, 0.5], [8.93, 0.02, 0.3]].forEach(([m, p, dec]) =>
      tone(ctx, d, { freq: f * m, t0, decay: dec, peak: p }),
    );
  },
  // A bubble: a fast downward sweep.
  pop(ctx, d, t0) {
    tone(ctx, d, { freq: 900, freqEnd: 160, t0, attack: 0.002, decay: 0.09, peak: 0.55 });
  },
  // One clear high note.
  ding(ctx, d, t0) {
    tone(ctx, d, { freq: 1760, t0, decay: 1.0, peak: 0.22 });
    tone(ctx, d, { freq: 3520, t0, type: 'triangle', decay: 0.3, peak: 0.04 });
  },
  // Two wooden bar notes: fundamental plus the bar's fourth partial, short decay.
  marimba(ctx, d, t0) {
    [[784, 0], [1046.5, 0.14]].forEach(([f, dt]) => {
      tone(ctx, d, { freq: f, t0: t0 + dt, decay: 0.35, peak: 0.35 });
      tone(ctx, d, { freq: f * 4, t0: t0 + dt, decay: 0.06, peak: 0.08 });
    });
  },
  // Knock knock.
  knock(ctx, d, t0) {
    knock(ctx, d, t0);
    knock(ctx, d, t0 + 0.17);
  },
};

/** Draws `name` on `ctx` from `t0` into `dest`. `none` and unknown names draw nothing. */
export function schedule(ctx, name, t0 = ctx.currentTime, dest = ctx.destination) {
  const recipe = RECIPES[name];
  if (!recipe) return false;
  recipe(ctx, dest, t0);
  return true;
}

let shared = null;

function context() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  if (!shared) shared = new Ctx();
  return shared;
}

/** Browsers start audio only after the user has touched the page: resume on the first touch. */
export function unlockAudioOnGesture(target = window) {
  const unlock = () => {
    const ctx = context();
    if (ctx && ctx.state === 'suspended') ctx.resume().catch(() => {});
    target.removeEventListener('pointerdown', unlock, true);
    target.removeEventListener('keydown', unlock, true);
  };
  target.addEventListener('pointerdown', unlock, true);
  target.addEventListener('keydown', unlock, true);
}

/** Plays a sound now; tells listeners (`varsel:sound`) which one, even when muted or
 *  blocked by the browser's autoplay rules. */
export function playSound(name) {
  window.dispatchEvent(new CustomEvent('varsel:sound', { detail: name }));
  if (!RECIPES[name]) return false;
  const ctx = context();
  if (!ctx) return false;
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  const out = ctx.createGain();
  out.gain.value = 0.8;
  out.connect(ctx.destination);
  return schedule(ctx, name, ctx.currentTime + 0.02, out);
}
