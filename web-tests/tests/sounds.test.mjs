// The six pop-up sounds: rendered offline with the Web Audio API in Chromium, each must be
// audible, different from the others, and `none` silent.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch } from '../lib/harness.js';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

test('six distinct, audible sounds, and silence for "none"', async () => {
  const page = await browser.newPage();
  await page.goto(`${BASE}/ui/outbox`);
  const prints = await page.evaluate(async () => {
    const { SOUND_CHOICES, schedule } = await import('/ui/assets/sounds.js');
    const rate = 22050;
    const out = {};
    for (const name of SOUND_CHOICES) {
      const ctx = new OfflineAudioContext(1, rate * 1.6, rate);
      schedule(ctx, name, 0);
      const data = (await ctx.startRendering()).getChannelData(0);
      let sum = 0;
      let crossings = 0;
      let peak = 0;
      let last = 0;
      // Loudness over time in 16 slices, normalized: the envelope's shape.
      const slices = new Array(16).fill(0);
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        sum += v * v;
        peak = Math.max(peak, Math.abs(v));
        if ((v >= 0) !== (last >= 0)) crossings++;
        last = v;
        slices[Math.floor((i / data.length) * 16)] += v * v;
      }
      const total = slices.reduce((a, b) => a + b, 0) || 1;
      out[name] = {
        rms: Math.sqrt(sum / data.length),
        peak,
        zcr: crossings / data.length,
        envelope: slices.map((x) => x / total),
      };
    }
    return out;
  });
  assert.equal(prints.none.peak, 0, '"none" is silent');
  const names = ['chime', 'bell', 'pop', 'ding', 'marimba', 'knock'];
  for (const n of names) {
    assert.ok(prints[n].rms > 0.005, `${n} is audible (rms ${prints[n].rms})`);
    assert.ok(prints[n].peak <= 1.0, `${n} does not clip (peak ${prints[n].peak})`);
  }
  const distance = (a, b) =>
    Math.abs(a.zcr - b.zcr) * 20 + a.envelope.reduce((s, v, i) => s + Math.abs(v - b.envelope[i]), 0);
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const d = distance(prints[names[i]], prints[names[j]]);
      assert.ok(d > 0.1, `${names[i]} and ${names[j]} sound too alike (${d.toFixed(3)})`);
    }
  }
  await page.close();
});
