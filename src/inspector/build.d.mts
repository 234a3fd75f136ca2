/** Builds the inspector page (app.js, app.css, index.html, elk-worker.js) into `outDir` (default dist/inspector). */
export function buildInspectorPage(opts?: { quiet?: boolean; outDir?: string }): Promise<void>;
