// User settings (theme, notification sound, compact mode), kept in localStorage across sessions.

const KEY = 'huddle.settings';
export const DEFAULTS = Object.freeze({ theme: 'dark', sound: false, compact: false });

/** The saved settings, valid values only. */
export function loadSettings(storage = globalThis.localStorage) {
  let saved = {};
  try {
    saved = JSON.parse(storage?.getItem(KEY) || '{}') || {};
  } catch {
    saved = {};
  }
  return {
    theme: saved.theme === 'light' ? 'light' : 'dark',
    sound: saved.sound === true,
    compact: saved.compact === true,
  };
}

export function saveSettings(settings, storage = globalThis.localStorage) {
  try {
    storage?.setItem(KEY, JSON.stringify(settings));
  } catch {
    // Private mode or quota: settings last for this page only.
  }
}

/** Apply the theme and density to the document. */
export function applySettings(settings) {
  document.documentElement.dataset.theme = settings.theme;
  const meta = document.querySelector('meta[name="theme-color"]');
  if (meta) meta.setAttribute('content', settings.theme === 'light' ? '#e3e5e8' : '#1e1f22');
  const app = document.getElementById('app-view');
  if (app) app.dataset.compact = String(settings.compact);
}

let audio = null;

/** A short beep for a notification (Web Audio; no sound file to fetch). */
export function beep() {
  try {
    const Context = globalThis.AudioContext || globalThis.webkitAudioContext;
    if (!Context) return;
    audio ??= new Context();
    // Autoplay policy: a context made before any user gesture starts suspended.
    if (audio.state === 'suspended') audio.resume?.()?.catch?.(() => {});
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.frequency.value = 880;
    gain.gain.setValueAtTime(0.08, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start();
    oscillator.stop(audio.currentTime + 0.25);
  } catch {
    // No audio in this browser: silence.
  }
}

/** The sound of a `notification`: played only when the setting is on. True if played. */
export function notificationSound(settings, play = beep) {
  if (!settings?.sound) return false;
  play();
  return true;
}
