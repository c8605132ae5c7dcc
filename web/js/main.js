// Entry point (loaded as a module, so it runs after the document is parsed).
import { startApp } from './app.js';

startApp();
