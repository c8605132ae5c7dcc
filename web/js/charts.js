// Small line charts on <canvas>, no library: one or more series over time.

/** The value of a CSS custom property on the root (the theme's colours). */
function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

/** [min, max] of the finite values of every series (a flat line gets some room). */
export function extent(series) {
  const values = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  if (!values.length) return [0, 1];
  const min = Math.min(0, ...values);
  const max = Math.max(...values);
  return max > min ? [min, max] : [min, min + 1];
}

/**
 * Draw series (`[{values: number[], color: '--green'}]`) as lines over the canvas's width.
 * Missing values (null) break the line. The canvas is sized to its CSS box at device pixels.
 * @param {HTMLCanvasElement} canvas
 */
export function drawLines(canvas, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext('2d');
  if (!g) return;
  g.clearRect(0, 0, width, height);
  const pad = 4 * ratio;
  const [min, max] = extent(series);
  const longest = Math.max(2, ...series.map((s) => s.values.length));
  const x = (i) => pad + (i / (longest - 1)) * (width - 2 * pad);
  const y = (v) => height - pad - ((v - min) / (max - min)) * (height - 2 * pad);
  g.strokeStyle = cssVar('--border', '#444');
  g.lineWidth = ratio;
  g.beginPath();
  g.moveTo(pad, height - pad);
  g.lineTo(width - pad, height - pad);
  g.stroke();
  for (const s of series) {
    g.strokeStyle = cssVar(s.color, '#5865f2');
    g.lineWidth = 2 * ratio;
    g.beginPath();
    let drawing = false;
    s.values.forEach((value, i) => {
      if (!Number.isFinite(value)) {
        drawing = false;
        return;
      }
      if (drawing) g.lineTo(x(i), y(value));
      else g.moveTo(x(i), y(value));
      drawing = true;
    });
    g.stroke();
  }
}
