// drive.js - opens a mailed link in Debian's headless chromium (through
// playwright-core) and completes the page the way a person would.
//
//   node drive.js reset  URL PASSWORD [CONFIRM]   types the password twice, submits
//   node drive.js verify URL                      presses the button
//   node drive.js docs   URL                      waits for Swagger UI's operations
//
// Prints one JSON object on stdout: the page's status message after the
// answer, its HTTP status and headers, the console errors and CSP reports the
// page raised, and every request it made (so the test can tell nothing left
// the server's origin). CHROMIUM names the browser (default /usr/bin/chromium).
import { chromium } from "playwright-core";

const [mode, url, password, confirm] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
});
const out = { requests: [], consoleErrors: [], pageErrors: [] };
try {
  const page = await browser.newPage();
  page.on("request", (r) => out.requests.push({ method: r.method(), url: r.url() }));
  page.on("console", (m) => {
    if (m.type() === "error") out.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  const resp = await page.goto(url, { waitUntil: "load" });
  out.status = resp.status();
  out.headers = resp.headers();
  out.title = await page.title();
  if (mode === "docs") {
    await page.waitForSelector(".opblock", { timeout: 30000 });
    out.operations = await page.$$eval(".opblock", (els) =>
      els.map((e) => [
        e.querySelector(".opblock-summary-method").textContent,
        e.querySelector(".opblock-summary-path").getAttribute("data-path"),
      ]),
    );
    out.title = await page.title();
  } else if (out.status === 200) {
    if (mode === "reset") {
      await page.fill("#password", password);
      await page.fill("#confirm", confirm === undefined ? password : confirm);
    }
    const before = await page.textContent("#m");
    await page.click("button[type=submit]");
    // the script says "Sending..." then the outcome
    await page.waitForFunction(
      (b) => {
        const t = document.getElementById("m").textContent;
        return t !== b && t !== "Sending...";
      },
      before,
      { timeout: 15000 },
    );
    out.message = await page.textContent("#m");
    out.formHidden = await page.$eval("#f", (f) => f.hidden);
  }
} catch (e) {
  out.error = String(e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
