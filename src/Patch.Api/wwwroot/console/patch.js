// The Patch console's only script: pages are rendered by the server; every change goes through the JSON API that
// scripts use too (same validation, same roles), with the session's antiforgery token. No framework, no asset from
// elsewhere.
(() => {
  "use strict";

  const antiforgery = () => document.querySelector('meta[name="patch-antiforgery"]')?.content ?? "";

  // ---- Times: in the browser's time zone, named (a cron beside it may be in another), UTC on hover ----------------------
  const formatter = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short" });
  // A day (a release date) is a UTC date, as filters read it: shown as that day wherever the browser is.
  const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeZone: "UTC" });
  function localTimes(root) {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) continue;
      t.textContent = t.dataset.date !== undefined ? dateOnly.format(d) : formatter.format(d);
      t.title = d.toISOString().replace(".000Z", "Z") + " (UTC)";
    }
  }

  // ---- Calling the API ----------------------------------------------------------------------------------------------
  // ifMatch: the entity tag the page was drawn from (data-if-match) — a change someone made since is refused (412), not overwritten.
  async function call(method, url, body, contentType, ifMatch) {
    const headers = { "X-Patch-Antiforgery": antiforgery(), Accept: "application/json" };
    if (ifMatch) headers["If-Match"] = ifMatch;
    let payload;
    if (body instanceof Blob || body instanceof ArrayBuffer) { payload = body; headers["Content-Type"] = contentType || "application/octet-stream"; }
    else if (body !== undefined) { payload = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
    const response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (response.status === 401) { location.href = "/sign-in?returnUrl=" + encodeURIComponent(location.pathname + location.search); }
    return { ok: response.ok, status: response.status, json, text };
  }

  function problemText(result) {
    const p = result.json;
    if (p && (p.title || p.detail)) return [p.title, p.detail].filter(Boolean).join(": ");
    return `The server answered ${result.status}.`;
  }

  // Shows an API error next to what caused it: the field the detail names ("name: …"), else the form or button.
  function showProblem(anchor, result, form) {
    clearProblems(form || anchor.parentElement);
    const text = problemText(result);
    const detail = result.json?.detail ?? "";
    if (form) {
      for (const part of detail.split("; ")) {
        const m = /^([A-Za-z][\w.\[\]]*):/.exec(part);
        const field = m && findField(form, m[1]);
        if (field) {
          const note = document.createElement("p");
          note.className = "field-error"; note.id = (field.id || field.name) + "-error"; note.textContent = part;
          field.setAttribute("aria-invalid", "true"); field.setAttribute("aria-describedby", note.id);
          field.closest(".field")?.appendChild(note) ?? field.after(note);
        }
      }
    }
    const box = document.createElement("div");
    box.className = "problem"; box.setAttribute("role", "alert"); box.textContent = text;
    (form?.querySelector(".form-problems") ?? anchor.closest(".actions") ?? anchor.parentElement).appendChild(box);
  }

  function clearProblems(root) {
    if (!root) return;
    root.querySelectorAll(".problem, .field-error").forEach(e => e.remove());
    root.querySelectorAll("[aria-invalid]").forEach(e => { e.removeAttribute("aria-invalid"); e.removeAttribute("aria-describedby"); });
  }

  function findField(form, path) {
    const exact = form.querySelector(`[name="${CSS.escape(path)}"]`);
    if (exact) return exact;
    const last = path.split(".").pop();
    return [...form.elements].find(e => e.name && (e.name === last || e.name.endsWith("." + last)));
  }

  function notice(text) {
    const box = document.getElementById("notice");
    if (!box) return;
    box.textContent = text; box.hidden = false;
  }

  // After a change: reload, go to a page (with {field} taken from the answer), or stay and say it was done (data-done, with
  // {field} from the answer: the button alone only flickered, and a second click started the work again).
  function then(target, json, done) {
    if (!target || target === "reload") { location.reload(); return; }
    if (target === "stay") { notice((done ?? "Done.").replace(/\{(\w+)\}/g, (_, k) => json?.[k] ?? "")); return; }
    location.href = target.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(json?.[k] ?? ""));
  }

  // ---- Forms → JSON -------------------------------------------------------------------------------------------------
  // Field names are paths ("options.wakeOnLan", "schedules[0].timeZone"); data-type says how to read the value:
  // int, bool (a checkbox), list (comma or line separated), checks (the checked boxes of that name), json, utc (a
  // datetime-local read in the browser's zone), null-if-empty. Rows marked data-drop-empty vanish when all blank.
  function setPath(obj, path, value) {
    const keys = path.replace(/\[(\d+)\]/g, ".$1").split(".");
    let cur = obj;
    keys.forEach((k, i) => {
      const last = i === keys.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(keys[i + 1]);
      if (last) cur[k] = value;
      else cur = cur[k] ??= nextIsIndex ? [] : {};
    });
  }

  function valueOf(field) {
    const type = field.dataset.type;
    const raw = field.value;
    switch (type) {
      case "bool": return field.checked;
      case "int": return raw.trim() === "" ? null : Number(raw);
      case "ints": return raw.split(/[\s,]+/).filter(Boolean).map(Number);
      case "list": {
        const items = raw.split(/[\n,]/).map(s => s.trim()).filter(Boolean);
        return items.length === 0 && field.dataset.emptyNull !== undefined ? null : items;
      }
      case "json": return raw.trim() === "" ? null : JSON.parse(raw);
      case "utc": return raw ? new Date(raw).toISOString() : null;
      case "time": return raw.length === 5 ? raw + ":00" : raw;
      default: return field.dataset.emptyNull !== undefined && raw.trim() === "" ? null : raw;
    }
  }

  // "<div data-when="options.schedule=Own">": its fields count (and show) only while that field has that value; with
  // data-keep they only show then, and are always sent (a choice put aside, not forgotten).
  function holds(form, condition) {
    const [name, wanted] = condition.split("=");
    const fields = [...form.querySelectorAll(`[name="${CSS.escape(name)}"]`)];
    const field = fields.find(f => f.type !== "radio" || f.checked);
    if (!field) return false;
    const value = field.type === "checkbox" ? String(field.checked) : field.value;
    return wanted.split("|").includes(value);
  }

  function applyConditions(form) {
    for (const box of form.querySelectorAll("[data-when]")) box.hidden = !holds(form, box.dataset.when);
  }

  function formJson(form) {
    const body = {};
    const checks = {};
    for (const field of form.elements) {
      if (!field.name || field.disabled || field.dataset.skip !== undefined || field.type === "submit" || field.type === "button") continue;
      // A block shown only while its condition holds drops its fields otherwise — unless it keeps them (data-keep: hidden, still sent).
      if ([...ancestors(field, form)].some(box => box.dataset.when && box.dataset.keep === undefined && !holds(form, box.dataset.when))) continue;
      if (field.closest("[data-drop-empty]") && rowIsEmpty(field.closest("[data-drop-empty]"))) continue;
      if (field.closest("template")) continue;
      if (field.dataset.type === "checks") { (checks[field.name] ??= []); if (field.checked) checks[field.name].push(field.value); continue; }
      if (field.type === "radio") { if (field.checked) setPath(body, field.name, field.dataset.type === "bool" ? field.value === "true" : field.value); continue; }
      if (field.multiple) { setPath(body, field.name, [...field.selectedOptions].map(o => o.value)); continue; }
      setPath(body, field.name, valueOf(field));
    }
    for (const [name, values] of Object.entries(checks)) setPath(body, name, values);
    compact(body);
    return body;
  }

  function* ancestors(element, stop) {
    for (let e = element.parentElement; e && e !== stop; e = e.parentElement) yield e;
  }

  function rowIsEmpty(row) {
    return [...row.querySelectorAll("input, select, textarea")].filter(e => e.type !== "checkbox" && e.dataset.keep === undefined).every(e => !e.value.trim());
  }

  function compact(value) {
    if (Array.isArray(value)) { for (let i = value.length - 1; i >= 0; i--) if (value[i] === undefined) value.splice(i, 1); value.forEach(compact); }
    else if (value && typeof value === "object") Object.values(value).forEach(compact);
  }

  async function submitForm(form, event) {
    event.preventDefault();
    if (form.dataset.confirm && !confirm(form.dataset.confirm)) return;
    const button = event.submitter ?? form.querySelector("[type=submit]");
    const [method, url] = (button?.dataset.api ?? form.dataset.api).split(" ");
    clearProblems(form);
    let body;
    try { body = formJson(form); } catch (e) { showProblem(button ?? form, { json: { title: "Invalid input", detail: e.message }, status: 400 }, form); return; }
    if (form.dataset.wrap) body = { [form.dataset.wrap]: body };
    busy(button, true);
    // The form's tag goes with the form's own operation, not with a button that calls another (a preview).
    const ifMatch = button?.dataset.api ? button.dataset.ifMatch : (button?.dataset.ifMatch ?? form.dataset.ifMatch);
    const result = await call(method, expand(url, form), method === "GET" ? undefined : body, undefined, ifMatch);
    busy(button, false);
    if (!result.ok) { showProblem(button ?? form, result, form); return; }
    const target = button?.dataset.show ?? form.dataset.show;
    if (target) { show(target, result.json); return; }
    then(button?.dataset.then ?? form.dataset.then, result.json);
  }

  // "{field}" in a URL is the value of that field of the form (a URL that depends on what was typed).
  function expand(url, form) {
    return url.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(form?.elements[k]?.value ?? ""));
  }

  function busy(button, on) {
    if (!button) return;
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  }

  // Writes an answer into an element: a token shown once, an import's result.
  function show(selector, json) {
    const target = document.querySelector(selector);
    if (!target) return;
    target.hidden = false;
    for (const slot of target.querySelectorAll("[data-field]")) {
      const value = json?.[slot.dataset.field];
      slot.textContent = Array.isArray(value) ? value.join(", ") : value ?? "";
    }
    // A part that says something only when its field does (data-if="ignoredColumns"): hidden while that field is empty.
    for (const part of target.querySelectorAll("[data-if]")) {
      const value = json?.[part.dataset.if];
      part.hidden = value === undefined || value === null || value === "" || (Array.isArray(value) && value.length === 0);
    }
    const raw = target.querySelector("[data-json]");
    if (raw) raw.textContent = JSON.stringify(json, null, 2);
    target.querySelector("[data-focus]")?.focus();
  }

  // ---- Buttons that act ---------------------------------------------------------------------------------------------
  async function act(button) {
    if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
    const [method, url] = button.dataset.action.split(" ");
    let body;
    if (button.dataset.body) body = JSON.parse(button.dataset.body);
    if (button.dataset.selection) {
      const ids = selected(button.dataset.selectionOf);
      if (ids.length === 0) { showProblem(button, { json: { title: "Nothing selected", detail: "Select one or more rows first." }, status: 400 }); return; }
      body = { ...(body ?? {}), [button.dataset.selection]: ids };
      if (button.dataset.with) for (const name of button.dataset.with.split(",")) body[name] = document.getElementById(name)?.value || null;
    }
    clearProblems(button.closest(".actions") ?? button.parentElement);
    busy(button, true);
    const result = await call(method, url, body, undefined, button.dataset.ifMatch);
    busy(button, false);
    if (!result.ok) { showProblem(button, result); return; }
    if (button.dataset.progress && result.json?.statusUrl) { await progress(button, result.json.statusUrl); return; }
    if (button.dataset.show) { show(button.dataset.show, result.json); return; }
    then(button.dataset.then, result.json, button.dataset.done);
  }

  // Navigation with the selected rows: "/policies/new?bulletin=a&bulletin=b".
  function goWithSelection(button) {
    const ids = selected(button.dataset.selectionOf);
    if (ids.length === 0) { showProblem(button, { json: { title: "Nothing selected", detail: "Select one or more rows first." }, status: 400 }); return; }
    const url = new URL(button.dataset.go, location.origin);
    ids.forEach(id => url.searchParams.append(button.dataset.param, id));
    location.href = url.pathname + url.search;
  }

  const selected = table => [...document.querySelectorAll(`input[type=checkbox][data-select="${table ?? "rows"}"]:checked`)].map(c => c.value);

  // ---- Long work: a staging run polled until it is done ----------------------------------------------------------------
  async function progress(button, statusUrl) {
    const panel = document.getElementById(button.dataset.progress);
    const bar = panel?.querySelector("progress");
    const text = panel?.querySelector("[data-progress-text]");
    if (panel) panel.hidden = false;
    for (;;) {
      const result = await call("GET", statusUrl);
      if (!result.ok) { showProblem(button, result); return; }
      const run = result.json.run ?? {};
      const updates = (result.json.bulletins ?? []).flatMap(b => b.updateStatus ?? []);
      const done = updates.filter(u => u.state === "downloaded" || u.state === "failed" || u.state === "excluded").length;
      if (bar) { bar.max = Math.max(updates.length, 1); bar.value = done; }
      if (text) text.textContent = `${run.status ?? "running"}: ${done} of ${updates.length} updates done`;
      if (run.status && run.status !== "running") { then(button.dataset.then ?? "reload", result.json); return; }
      await new Promise(r => setTimeout(r, 1000));
    }
  }

  // ---- Uploads: the body is the file (the catalog import) -------------------------------------------------------------
  async function upload(form, event) {
    event.preventDefault();
    const file = form.querySelector("input[type=file]")?.files?.[0];
    const button = event.submitter ?? form.querySelector("[type=submit]");
    clearProblems(form);
    if (!file) { showProblem(button, { json: { title: "No file", detail: "file: choose the catalog file to import." }, status: 400 }, form); return; }
    busy(button, true);
    const result = await call("POST", expand(form.dataset.upload, form), file, file.type || "application/octet-stream");
    busy(button, false);
    // A refused upload keeps no earlier answer on show, unless the answer has room for the refusal (the catalog import's run).
    if (form.dataset.show && (result.ok || form.dataset.showFailed !== undefined)) show(form.dataset.show, result.json);
    else if (form.dataset.show) { const target = document.querySelector(form.dataset.show); if (target) target.hidden = true; }
    if (!result.ok) showProblem(button, result, form);
  }

  // ---- Wizards: one step at a time when scripts run (all steps otherwise) ------------------------------------------
  function wizard(form) {
    const steps = [...form.querySelectorAll("[data-step]")];
    if (steps.length < 2) return;
    let current = 0;
    const nav = form.querySelector(".wizard-nav");
    const back = nav.querySelector("[data-back]"), next = nav.querySelector("[data-next]"), finish = nav.querySelector("[type=submit]");
    const showStep = i => {
      current = i;
      steps.forEach((s, j) => { s.hidden = j !== i; });
      form.querySelectorAll(".wizard-steps li").forEach((li, j) => li.toggleAttribute("aria-current", j === i));
      back.hidden = i === 0; next.hidden = i === steps.length - 1; finish.hidden = i !== steps.length - 1;
      steps[i].querySelector("h2, legend")?.focus?.();
    };
    back.addEventListener("click", () => showStep(Math.max(0, current - 1)));
    next.addEventListener("click", () => showStep(Math.min(steps.length - 1, current + 1)));
    form.classList.add("wizard-active");
    showStep(0);
  }

  // ---- Repeating rows (install schedules, target rules): add from a template, remove, renumber --------------------------
  // A new row's index is past every index the list ever had: the count of rows is not (remove the first of two, add one: the
  // new row took the second's index and its fields were sent in place of the second's — one rule or schedule lost).
  function nextIndex(list, template) {
    if (list.dataset.next) return Number(list.dataset.next);
    let next = list.children.length;
    const named = template.content.querySelector("[name*='__i__']");
    if (named) {
      const [before, after] = named.getAttribute("name").split("__i__");
      for (const field of list.querySelectorAll("[name]")) {
        const name = field.getAttribute("name");
        if (!name.startsWith(before) || !name.endsWith(after)) continue;
        const i = Number(name.slice(before.length, name.length - after.length));
        if (Number.isInteger(i)) next = Math.max(next, i + 1);
      }
    }
    return next;
  }

  function addRow(button) {
    const list = document.getElementById(button.dataset.addRow);
    const template = document.getElementById(button.dataset.template);
    const index = nextIndex(list, template);
    list.dataset.next = index + 1;
    const row = template.content.firstElementChild.cloneNode(true);
    const renumber = e => {
      for (const a of ["name", "id", "for", "data-when", "aria-labelledby"]) if (e.hasAttribute(a)) e.setAttribute(a, e.getAttribute(a).replaceAll("__i__", index));
    };
    renumber(row);
    row.querySelectorAll("*").forEach(renumber);
    list.appendChild(row);
    applyConditions(list.closest("form"));
    row.querySelector("input, select")?.focus();
  }

  // ---- Wiring ----------------------------------------------------------------------------------------------------------
  document.addEventListener("click", e => {
    const actor = e.target.closest("[data-action]");
    if (actor) { e.preventDefault(); act(actor); return; }
    const go = e.target.closest("[data-go]");
    if (go) { e.preventDefault(); goWithSelection(go); return; }
    const add = e.target.closest("[data-add-row]");
    if (add) { e.preventDefault(); addRow(add); return; }
    const remove = e.target.closest("[data-remove-row]");
    if (remove) { e.preventDefault(); remove.closest("[data-row]")?.remove(); return; }
    const all = e.target.closest("input[data-select-all]");
    if (all) document.querySelectorAll(`input[type=checkbox][data-select="${all.dataset.selectAll}"]`).forEach(c => { c.checked = all.checked; });
  });

  document.addEventListener("submit", e => {
    const form = e.target;
    if (form.dataset.api) submitForm(form, e);
    else if (form.dataset.upload) upload(form, e);
    else if (form.method === "get") {
      // Empty filters stay out of the address; local date-times become UTC.
      for (const f of form.querySelectorAll("input[type=datetime-local][data-utc]")) {
        if (f.value) { const h = document.createElement("input"); h.type = "hidden"; h.name = f.dataset.utc; h.value = new Date(f.value).toISOString(); form.appendChild(h); }
        f.disabled = true;
      }
      for (const f of form.elements) if (f.name && f.value === "" && f.tagName !== "BUTTON") f.disabled = true;
    }
  });

  document.addEventListener("change", e => {
    const form = e.target.form;
    if (form) applyConditions(form);
  });

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    document.querySelectorAll("form").forEach(applyConditions);
    document.querySelectorAll("form[data-wizard]").forEach(wizard);
    for (const f of document.querySelectorAll("input[type=datetime-local][data-utc-value]")) {
      const d = new Date(f.dataset.utcValue);
      if (!isNaN(d)) f.value = new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
    }
    document.querySelectorAll("[data-autofocus]").forEach(e => e.focus());
    // Every handler is in place: what a page's automation (the browser tests) waits for before it acts.
    document.documentElement.dataset.consoleReady = "";
  });
})();
