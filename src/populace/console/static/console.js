// populace's admin console: one page, no build step, no asset from elsewhere.
//
// It holds no rule of its own: every action is a call of the management API (or populace's
// control API) through /console/api, which adds the signed-in token kept in an HttpOnly cookie
// this script never sees. What the API refuses is shown as the API says it, PingOne's message
// and details. Pages are built with DOM calls (never innerHTML), so no value can become markup.
"use strict";

const CALLS = "/console/api";
const PAGE_SIZE = 50;
const PASSWORD_SET = "application/vnd.pingidentity.password.set+json";
let session = null;
let rendering = 0; // which render is current: a slow page must not draw over a newer one
let polling = null;

// --- building pages ----------------------------------------------------------------------------

function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "text") element.textContent = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

let fieldCount = 0;

// A labelled control: {name, label, type, value, required, options: [[value, text]], hint}.
function field(spec) {
  const id = `f${++fieldCount}`;
  let control;
  if (spec.options) {
    control = h("select", { id, name: spec.name, required: spec.required },
      spec.options.map(([value, text]) =>
        h("option", { value, selected: String(value) === String(spec.value ?? "") }, text)));
  } else if (spec.type === "checkbox") {
    control = h("input", { id, name: spec.name, type: "checkbox", checked: !!spec.value });
    return h("div", {}, h("label", { class: "inline", for: id }, control, spec.label));
  } else {
    control = h("input", {
      id, name: spec.name, type: spec.type || "text", value: spec.value ?? "",
      required: spec.required, autocomplete: spec.autocomplete || "off",
      placeholder: spec.placeholder,
    });
  }
  return h("div", {}, h("label", { for: id }, spec.label), control,
    spec.hint ? h("div", { class: "muted" }, spec.hint) : null);
}

// A form whose submit calls `act(values)`; what the API refuses is shown in the form.
function form(title, fields, button, act, attributes = {}) {
  const alert = h("div");
  const element = h("form", { class: "card", "aria-label": title, ...attributes },
    title ? h("h2", { text: title }) : null,
    h("div", { class: "fields" }, fields.map(field)),
    alert,
    h("div", { class: "buttons" }, h("button", { type: "submit" }, button)));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = {};
    for (const control of element.elements) {
      if (!control.name) continue;
      values[control.name] = control.type === "checkbox" ? control.checked : control.value.trim();
    }
    alert.replaceChildren();
    const submit = element.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      await act(values);
    } catch (error) {
      alert.replaceChildren(problem(error));
    } finally {
      submit.disabled = false;
    }
  });
  return element;
}

// What went wrong, as the API put it: PingOne's message and each detail's.
function problem(error) {
  const body = error.body || {};
  const details = (body.details || []).map((detail) =>
    h("li", {}, detail.message || detail.code, detail.target ? ` (${detail.target})` : ""));
  return h("div", { class: "error", role: "alert" },
    h("strong", {}, body.message || error.message || "The request failed."),
    details.length ? h("ul", {}, details) : null);
}

function table(caption, headings, rows, empty = "None yet.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { text: caption }),
    h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows)));
}

function say(message) {
  const status = document.getElementById("status");
  status.textContent = message;
  setTimeout(() => { if (status.textContent === message) status.textContent = ""; }, 4000);
}

// Draw the page again, then say what was done: the message comes once the page shows it.
async function redrawn(message) {
  await route();
  say(message);
}

// Ask before a change that cannot be taken back (a native dialog: keyboard and screen readers
// know it).
function confirmed(question) {
  return window.confirm(question);
}

// --- the API -----------------------------------------------------------------------------------

class ApiFailure extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, body, contentType = "application/json") {
  const headers = { "X-Populace-Console": "1", Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = contentType;
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path.startsWith("/console/") ? path : CALLS + path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { message: text }; }
  if (response.status === 401 && path !== "/console/session") {
    session = null;
    location.hash = "#/signin";
    throw new ApiFailure(401, data);
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

const api = {
  get: (path) => call("GET", path),
  post: (path, body, type) => call("POST", path, body ?? {}, type),
  put: (path, body, type) => call("PUT", path, body, type),
  patch: (path, body) => call("PATCH", path, body),
  delete: (path) => call("DELETE", path),
};

// A link of the API's (absolute, as PingOne writes them) as a path to call through the console.
function linkPath(href) {
  const url = new URL(href, location.origin);
  return url.pathname + url.search;
}

function embedded(page, name) {
  return (page && page._embedded && page._embedded[name]) || [];
}

const env = (environmentId) => `/v1/environments/${environmentId}`;

// --- layout ------------------------------------------------------------------------------------

function drawHeader(route) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!session) {
    nav.replaceChildren();
    who.replaceChildren();
    return;
  }
  const links = [["#/environments", "Environments"]];
  links.push([`#/environments/${session.environmentId}/populations`, "Home environment"]);
  if (session.controlApi) links.push(["#/emulator", "Emulator"]);
  nav.replaceChildren(h("ul", {}, links.map(([href, text]) =>
    h("li", {}, h("a", { href, "aria-current": route === href ||
      (href !== "#/environments" && route.startsWith(`${href}/`)) ? "page" : null }, text)))));
  who.replaceChildren(
    h("span", {}, "Signed in as ",
      session.userId ? ["user ", h("code", {}, session.userId), " through "] : null,
      h("code", {}, session.clientId)),
    h("button", { type: "button", class: "secondary", onclick: signOut }, "Sign out"));
}

const SECTIONS = [
  ["populations", "Populations"],
  ["users", "Users"],
  ["groups", "Groups"],
  ["applications", "Applications"],
];

function environmentTabs(environmentId, current) {
  return h("nav", { "aria-label": "Environment" }, h("ul", { class: "tabs" },
    SECTIONS.map(([key, text]) => h("li", {}, h("a", {
      href: `#/environments/${environmentId}/${key}`,
      "aria-current": key === current ? "page" : null,
    }, text)))));
}

async function environmentName(environmentId) {
  try {
    return (await api.get(env(environmentId))).name;
  } catch {
    return environmentId; // a population-scoped admin may not read the environment itself
  }
}

async function environmentPage(environmentId, current, title) {
  const name = await environmentName(environmentId);
  return [
    h("p", { class: "crumbs" }, h("a", { href: "#/environments" }, "Environments"), " / ", name),
    h("h1", { tabindex: "-1" }, title),
    environmentTabs(environmentId, current),
  ];
}

// A paged list: `load(path)` draws one page; "Next page" follows the API's own next link.
function pager(page, show) {
  const next = page && page._links && page._links.next;
  return h("div", { class: "buttons" },
    next ? h("button", { type: "button", class: "secondary",
      onclick: () => show(linkPath(next.href)) }, "Next page") : null,
    page && page.count !== undefined ? h("span", { class: "muted" }, `${page.count} in all`) : null);
}

// Draw a list's first page; what the API refuses is shown in its place, under the page's
// heading (a population-scoped admin may not list what the page is about).
async function showFirst(list, show, path) {
  try {
    await show(path);
  } catch (error) {
    if (error.status === 401) throw error;
    list.replaceChildren(problem(error));
  }
}

// --- sign in and out ---------------------------------------------------------------------------

function signInPage(query) {
  const failed = query.get("failed");
  const callback = `${location.origin}/console/callback`;
  return [h("div", { class: "signin" },
    h("h1", { tabindex: "-1" }, "Sign in to populace"),
    failed ? h("div", { class: "error", role: "alert" }, h("strong", {}, "Sign-in failed. "), failed)
      : null,
    h("p", {}, "Use a Worker application's credentials: the console acts with its roles."),
    form("", [
      { name: "environmentId", label: "Environment ID", required: true },
      { name: "clientId", label: "Client ID", required: true },
      { name: "clientSecret", label: "Client secret", type: "password", required: true },
    ], "Sign in", async (values) => {
      session = await call("POST", "/console/session", values);
      location.hash = `#/environments/${session.environmentId}/populations`;
    }, { "aria-label": "Sign in" }),
    h("p", {}, "Or sign in as an administrator, a user, on populace's sign-on page: the console " +
      "acts with your roles. It signs on through a Worker application with the " +
      "AUTHORIZATION_CODE grant, tokenEndpointAuthMethod NONE and the redirect URI ",
      h("code", {}, callback), "."),
    form("", [
      { name: "environmentId", label: "Environment ID", required: true },
      { name: "clientId", label: "Client ID of that application", required: true },
    ], "Sign in as an administrator", async (values) => {
      const started = await call("POST", "/console/session/authorize", values);
      location.assign(started.authorizeUrl);
    }, { "aria-label": "Sign in as an administrator" }))];
}

async function signOut() {
  await call("DELETE", "/console/session");
  session = null;
  location.hash = "#/signin";
}

// --- environments ------------------------------------------------------------------------------

async function environmentsPage() {
  const list = h("div");
  const show = async (path) => {
    const page = await api.get(path);
    list.replaceChildren(table("Environments", ["Name", "Type", "Region", "ID", ""],
      embedded(page, "environments").map((item) => h("tr", {},
        h("td", {}, h("a", { href: `#/environments/${item.id}/populations` }, item.name)),
        h("td", {}, item.type), h("td", {}, item.region), h("td", {}, h("code", {}, item.id)),
        h("td", { class: "actions" }, h("button", { type: "button", class: "danger",
          "aria-label": `Delete environment ${item.name}`,
          onclick: () => removeEnvironment(item) }, "Delete"))))),
    pager(page, show));
  };
  const removeEnvironment = async (item) => {
    if (!confirmed(`Delete the environment ${item.name} and everything in it?`)) return;
    try {
      await api.delete(env(item.id));
      say(`Deleted ${item.name}.`);
      await show(`/v1/environments?limit=${PAGE_SIZE}`);
    } catch (error) { list.prepend(problem(error)); }
  };
  await showFirst(list, show, `/v1/environments?limit=${PAGE_SIZE}`);
  const licenses = await organizationLicenses();
  return [
    h("h1", { tabindex: "-1" }, "Environments"),
    h("section", {}, list),
    form("Create an environment", [
      { name: "name", label: "Name", required: true },
      { name: "type", label: "Type", options: [["SANDBOX", "Sandbox"], ["PRODUCTION", "Production"]] },
      { name: "region", label: "Region", options: [["NA", "North America"], ["EU", "Europe"],
        ["AP", "Asia Pacific"], ["CA", "Canada"]] },
      { name: "license", label: "License", options: licenses },
    ], "Create environment", async (values) => {
      const created = await api.post("/v1/environments", {
        name: values.name, type: values.type, region: values.region,
        license: { id: values.license },
      });
      say(`Created ${created.name}.`);
      location.hash = `#/environments/${created.id}/populations`;
    }),
  ];
}

async function organizationLicenses() {
  try {
    const licenses = await api.get(`/v1/organizations/${session.organizationId}/licenses`);
    return embedded(licenses, "licenses").map((item) => [item.id, item.name || item.id]);
  } catch {
    return [];
  }
}

// --- populations -------------------------------------------------------------------------------

function populationBody(population, changes) {
  const body = { name: population.name, description: population.description,
    default: population.default, passwordPolicy: population.passwordPolicy,
    theme: population.theme, preferredLanguage: population.preferredLanguage,
    alternativeIdentifiers: population.alternativeIdentifiers, ...changes };
  for (const key of Object.keys(body)) if (body[key] === undefined) delete body[key];
  return body;
}

async function populationsPage(environmentId) {
  const path = `${env(environmentId)}/populations`;
  const list = h("div");
  let shown = `${path}?limit=${PAGE_SIZE}`;
  const show = async (page_path) => {
    shown = page_path;
    const page = await api.get(page_path);
    list.replaceChildren(table("Populations", ["Name", "Users", "Default", "Description", ""],
      embedded(page, "populations").map((item) => h("tr", {},
        h("td", {}, h("a", { href: `#/environments/${environmentId}/populations/${item.id}` },
          item.name)),
        h("td", { class: "num" }, item.userCount),
        h("td", {}, item.default ? h("span", { class: "badge" }, "Default") : ""),
        h("td", {}, item.description || ""),
        h("td", { class: "actions" },
          item.default ? null : h("button", { type: "button", class: "secondary",
            "aria-label": `Make ${item.name} the default`,
            onclick: () => act(() => api.put(`${path}/${item.id}`,
              populationBody(item, { default: true })), `${item.name} is the default.`) },
          "Make default"), " ",
          h("button", { type: "button", class: "danger", "aria-label": `Delete ${item.name}`,
            onclick: () => confirmed(`Delete the population ${item.name}?`) &&
              act(() => api.delete(`${path}/${item.id}`), `Deleted ${item.name}.`) },
          "Delete"))))),
    pager(page, show));
  };
  const act = async (request, done) => {
    try {
      await request();
      say(done);
      await show(shown);
    } catch (error) { list.prepend(problem(error)); }
  };
  await showFirst(list, show, shown);
  return [
    ...(await environmentPage(environmentId, "populations", "Populations")),
    h("section", {}, list),
    form("Create a population", [
      { name: "name", label: "Name", required: true },
      { name: "description", label: "Description" },
      { name: "default", label: "Make it the default", type: "checkbox" },
    ], "Create population", async (values) => {
      const created = await api.post(path, { name: values.name,
        description: values.description || undefined, default: values.default });
      say(`Created ${created.name}.`);
      await show(shown);
    }),
  ];
}

async function populationPage(environmentId, populationId) {
  const path = `${env(environmentId)}/populations/${populationId}`;
  const population = await api.get(path);
  return [
    ...(await environmentPage(environmentId, "populations", population.name)),
    h("section", {}, h("dl", { class: "values" },
      h("dt", {}, "ID"), h("dd", {}, h("code", {}, population.id)),
      h("dt", {}, "Users"), h("dd", {}, population.userCount),
      h("dt", {}, "Default"), h("dd", {}, population.default ? "Yes" : "No")),
    h("div", { class: "buttons" }, h("a", {
      href: `#/environments/${environmentId}/users?population=${population.id}` },
    "Users in this population"))),
    form("Edit", [
      { name: "name", label: "Name", value: population.name, required: true },
      { name: "description", label: "Description", value: population.description },
    ], "Save", async (values) => {
      await api.put(path, populationBody(population, { name: values.name,
        description: values.description || undefined }));
      await redrawn("Saved.");
    }),
  ];
}

// --- users -------------------------------------------------------------------------------------

const CHOICES = 200;

// The first CHOICES populations as [id, name] pairs (none when the admin may not list them);
// `more` says the environment has others.
async function populationChoices(environmentId) {
  const page = await api.get(`${env(environmentId)}/populations?limit=${CHOICES}`)
    .catch((error) => {
      if (error.status === 401) throw error;
      return null;
    });
  const choices = embedded(page, "populations").map((item) => [item.id, item.name]);
  choices.more = !!(page && page._links && page._links.next);
  return choices;
}

// A population picked from a list; in an environment of more than CHOICES, typed by its id
// (a list of thousands helps nobody, and the page never loads them all).
function populationField(choices, spec, none) {
  if (!choices.more) return { ...spec, options: none ? [none, ...choices] : choices };
  return { ...spec, label: spec.label.replace(/^Population/, "Population ID"),
    hint: `This environment has more than ${CHOICES} populations: give the population's ID` +
      (none ? ` (empty: ${none[1]}).` : ".") };
}

async function usersPage(environmentId, query) {
  const path = `${env(environmentId)}/users`;
  const population = query.get("population");
  let filter = query.get("filter") || (population ? `population.id eq "${population}"` : "");
  const list = h("div");
  const choices = await populationChoices(environmentId);
  const names = new Map(choices);
  const show = async (page_path) => {
    const page = await api.get(page_path);
    list.replaceChildren(table("Users", ["Username", "Email", "Population", "Enabled"],
      embedded(page, "users").map((item) => h("tr", {},
        h("td", {}, h("a", { href: `#/environments/${environmentId}/users/${item.id}` },
          item.username)),
        h("td", {}, item.email || ""),
        h("td", {}, names.get(item.population && item.population.id) ||
          h("code", {}, item.population && item.population.id)),
        h("td", {}, item.enabled === false ? h("span", { class: "badge off" }, "Disabled") : "Yes"))),
      "No user matches."),
    pager(page, show));
  };
  const first = () => `${path}?limit=${PAGE_SIZE}` +
    (filter ? `&filter=${encodeURIComponent(filter)}` : "");
  const search = form("Search", [
    { name: "filter", label: "Filter (as the API's filter parameter)", value: filter,
      placeholder: 'username sw "a"', hint: 'e.g. email ew "@example.com" and enabled eq true' },
  ], "Search", async (values) => {
    filter = values.filter;
    await show(first());
  }, { role: "search" });
  await showFirst(list, show, first());
  return [
    ...(await environmentPage(environmentId, "users", "Users")),
    search,
    h("section", {}, list),
    form("Create a user", [
      { name: "username", label: "Username", required: true },
      { name: "email", label: "Email", type: "email", required: true },
      { name: "given", label: "Given name" },
      { name: "family", label: "Family name" },
      populationField(choices, { name: "population", label: "Population", value: population },
        ["", "the environment's default"]),
    ], "Create user", async (values) => {
      const body = { username: values.username, email: values.email };
      if (values.given || values.family) {
        body.name = { given: values.given || undefined, family: values.family || undefined };
      }
      if (values.population) body.population = { id: values.population };
      const created = await api.post(path, body);
      say(`Created ${created.username}.`);
      location.hash = `#/environments/${environmentId}/users/${created.id}`;
    }),
  ];
}

async function userPage(environmentId, userId) {
  const path = `${env(environmentId)}/users/${userId}`;
  const [user, choices] = await Promise.all([api.get(path), populationChoices(environmentId)]);
  const groups = await api.get(`${path}/memberOfGroups?limit=200`).catch(() => null);
  const allGroups = await api.get(`${env(environmentId)}/groups?limit=200`).catch(() => null);
  const enabled = user.enabled !== false;
  const membership = groups ? embedded(groups, "groupMemberships") : [];
  const groupNames = new Map(embedded(allGroups, "groups").map((g) => [g.id, g.name]));
  return [
    ...(await environmentPage(environmentId, "users", user.username)),
    h("section", {}, h("dl", { class: "values" },
      h("dt", {}, "ID"), h("dd", {}, h("code", {}, user.id)),
      h("dt", {}, "Population"), h("dd", {}, new Map(choices).get(user.population.id) ||
        h("code", {}, user.population.id)),
      h("dt", {}, "Enabled"), h("dd", {}, enabled ? "Yes" : "No")),
    h("div", { class: "buttons" },
      h("button", { type: "button", class: "secondary", onclick: async (event) => {
        try {
          await api.put(`${path}/enabled`, { enabled: !enabled });
          await redrawn(enabled ? "Disabled." : "Enabled.");
        } catch (error) { event.target.after(problem(error)); }
      } }, enabled ? "Disable" : "Enable"),
      h("button", { type: "button", class: "danger", onclick: async (event) => {
        if (!confirmed(`Delete the user ${user.username}?`)) return;
        try {
          await api.delete(path);
          say(`Deleted ${user.username}.`);
          location.hash = `#/environments/${environmentId}/users`;
        } catch (error) { event.target.after(problem(error)); }
      } }, "Delete user"))),
    form("Edit", [
      { name: "username", label: "Username", value: user.username, required: true },
      { name: "email", label: "Email", type: "email", value: user.email },
      { name: "given", label: "Given name", value: user.name && user.name.given },
      { name: "family", label: "Family name", value: user.name && user.name.family },
    ], "Save", async (values) => {
      await api.patch(path, { username: values.username, email: values.email,
        name: { given: values.given || null, family: values.family || null } });
      await redrawn("Saved.");
    }),
    form("Move to another population", [
      populationField(choices,
        { name: "population", label: "Population", value: user.population.id, required: true }),
    ], "Move", async (values) => {
      await api.put(`${path}/population`, { id: values.population });
      await redrawn("Moved.");
    }),
    form("Set the password", [
      { name: "value", label: "New password", type: "password", required: true,
        autocomplete: "new-password" },
      { name: "forceChange", label: "Must change it at next sign-on", type: "checkbox" },
    ], "Set password", async (values) => {
      await api.put(`${path}/password`, { value: values.value, forceChange: values.forceChange },
        PASSWORD_SET);
      await redrawn("Password set.");
    }),
    h("section", { "aria-label": "Groups" }, h("h2", {}, "Groups"),
      table("Groups the user is a direct member of", ["Group", ""], membership.map((item) =>
        h("tr", {}, h("td", {}, groupNames.get(item.id) || item.name || item.id),
          h("td", { class: "actions" }, h("button", { type: "button", class: "danger",
            "aria-label": `Remove from ${groupNames.get(item.id) || item.id}`,
            onclick: async (event) => {
              try {
                await api.delete(`${path}/memberOfGroups/${item.id}`);
                await redrawn("Removed from the group.");
              } catch (error) { event.target.after(problem(error)); }
            } }, "Remove")))), "In no group.")),
    allGroups && embedded(allGroups, "groups").length ? form("Add to a group", [
      { name: "group", label: "Group",
        options: embedded(allGroups, "groups").map((g) => [g.id, g.name]) },
    ], "Add to group", async (values) => {
      await api.post(`${path}/memberOfGroups`, { id: values.group });
      await redrawn("Added to the group.");
    }) : null,
  ];
}

// --- groups ------------------------------------------------------------------------------------

async function groupsPage(environmentId) {
  const path = `${env(environmentId)}/groups`;
  const list = h("div");
  const show = async (page_path) => {
    const page = await api.get(page_path);
    list.replaceChildren(table("Groups", ["Name", "Description", "ID", ""],
      embedded(page, "groups").map((item) => h("tr", {},
        h("td", {}, item.name), h("td", {}, item.description || ""),
        h("td", {}, h("code", {}, item.id)),
        h("td", { class: "actions" }, h("button", { type: "button", class: "danger",
          "aria-label": `Delete group ${item.name}`, onclick: async () => {
            if (!confirmed(`Delete the group ${item.name}?`)) return;
            try {
              await api.delete(`${path}/${item.id}`);
              say(`Deleted ${item.name}.`);
              await show(`${path}?limit=${PAGE_SIZE}`);
            } catch (error) { list.prepend(problem(error)); }
          } }, "Delete"))))),
    pager(page, show));
  };
  await showFirst(list, show, `${path}?limit=${PAGE_SIZE}`);
  return [
    ...(await environmentPage(environmentId, "groups", "Groups")),
    h("p", { class: "muted" }, "Add users to groups from a user's page."),
    h("section", {}, list),
    form("Create a group", [
      { name: "name", label: "Name", required: true },
      { name: "description", label: "Description" },
    ], "Create group", async (values) => {
      const created = await api.post(path, { name: values.name,
        description: values.description || undefined });
      say(`Created ${created.name}.`);
      await show(`${path}?limit=${PAGE_SIZE}`);
    }),
  ];
}

// --- applications: Task 1 of PingOne's getting-started guide -----------------------------------

async function applicationsPage(environmentId) {
  const path = `${env(environmentId)}/applications`;
  const list = h("div");
  const show = async (page_path) => {
    const page = await api.get(page_path);
    list.replaceChildren(table("Applications", ["Name", "Type", "Enabled", "Client ID"],
      embedded(page, "applications").map((item) => h("tr", {},
        h("td", {}, h("a", { href: `#/environments/${environmentId}/applications/${item.id}` },
          item.name)),
        h("td", {}, item.type), h("td", {}, item.enabled ? "Yes" : "No"),
        h("td", {}, h("code", {}, item.id))))));
  };
  await showFirst(list, show, path);
  return [
    ...(await environmentPage(environmentId, "applications", "Applications")),
    h("section", {}, list),
    form("Create a Worker application", [
      { name: "name", label: "Name", required: true },
    ], "Create Worker application", async (values) => {
      const created = await api.post(path, { name: values.name, enabled: true, type: "WORKER",
        protocol: "OPENID_CONNECT" });
      say(`Created ${created.name}.`);
      location.hash = `#/environments/${environmentId}/applications/${created.id}`;
    }),
  ];
}

const ROLE_SCOPES = [["ENVIRONMENT", "This environment"], ["ORGANIZATION", "The organization"],
  ["POPULATION", "One population"]];

async function applicationPage(environmentId, applicationId) {
  const path = `${env(environmentId)}/applications/${applicationId}`;
  const [application, assignments, roles, populations] = await Promise.all([
    api.get(path), api.get(`${path}/roleAssignments`), api.get("/v1/roles"),
    populationChoices(environmentId)]);
  const roleNames = new Map(embedded(roles, "roles").map((role) => [role.id, role.name]));
  const populationNames = new Map(populations);
  const secret = h("output", { class: "mono", "aria-live": "polite" }, "(hidden)");
  const postmanSecret = h("code", {}, "(press Show secret)");
  const origin = location.origin;
  const scopeText = (scope) => scope.type === "POPULATION"
    ? `Population ${populationNames.get(scope.id) || scope.id}`
    : scope.type === "ENVIRONMENT" ? "Environment" : "Organization";
  return [
    ...(await environmentPage(environmentId, "applications", application.name)),
    h("section", { "aria-label": "Credentials" }, h("h2", {}, "Credentials"),
      h("dl", { class: "values" },
        h("dt", {}, "Client ID"), h("dd", {}, h("code", {}, application.id)),
        h("dt", {}, "Client secret"), h("dd", {}, secret)),
      application.type === "WORKER" || application.tokenEndpointAuthMethod !== "NONE"
        ? h("div", { class: "buttons" }, h("button", { type: "button", class: "secondary",
          onclick: async (event) => {
            try {
              const answer = await api.get(`${path}/secret`);
              secret.textContent = answer.secret;
              postmanSecret.textContent = answer.secret;
            } catch (error) { event.target.after(problem(error)); }
          } }, "Show secret")) : null),
    h("section", { "aria-label": "Postman" }, h("h2", {}, "Paste into Postman"),
      h("p", { class: "muted" }, "The variables of PingOne's Postman collections."),
      h("dl", { class: "values" },
        h("dt", {}, "apiPath"), h("dd", {}, h("code", {}, origin)),
        h("dt", {}, "authPath"), h("dd", {}, h("code", {}, origin)),
        h("dt", {}, "envID"), h("dd", {}, h("code", {}, environmentId)),
        h("dt", {}, "workerAppID"), h("dd", {}, h("code", {}, application.id)),
        h("dt", {}, "workerAppSecret"), h("dd", {}, postmanSecret),
        h("dt", {}, "Token endpoint"), h("dd", {}, h("code", {},
          `${origin}/${environmentId}/as/token`)))),
    h("section", { "aria-label": "Roles" }, h("h2", {}, "Roles"),
      table("Role assignments", ["Role", "Scope", ""], embedded(assignments, "roleAssignments")
        .map((item) => h("tr", {}, h("td", {}, roleNames.get(item.role.id) || item.role.id),
          h("td", {}, scopeText(item.scope)),
          h("td", { class: "actions" }, item.readOnly ? h("span", { class: "muted" }, "read-only")
            : h("button", { type: "button", class: "danger",
              "aria-label": `Remove ${roleNames.get(item.role.id)} (${scopeText(item.scope)})`,
              onclick: async (event) => {
                try {
                  await api.delete(`${path}/roleAssignments/${item.id}`);
                  await redrawn("Role removed.");
                } catch (error) { event.target.after(problem(error)); }
              } }, "Remove")))), "No role yet: the application can do nothing.")),
    form("Assign a role", [
      { name: "role", label: "Role", options: embedded(roles, "roles")
        .map((role) => [role.id, role.name]) },
      { name: "scope", label: "Scope", options: ROLE_SCOPES },
      populationField(populations,
        { name: "population", label: "Population (for a population scope)" }, ["", "none"]),
    ], "Assign role", async (values) => {
      const scope = values.scope === "ORGANIZATION"
        ? { type: "ORGANIZATION", id: session.organizationId }
        : values.scope === "POPULATION" ? { type: "POPULATION", id: values.population }
          : { type: "ENVIRONMENT", id: environmentId };
      await api.post(`${path}/roleAssignments`, { role: { id: values.role }, scope });
      await redrawn("Role assigned.");
    }),
  ];
}

// --- the emulator: reset, snapshots, fault rules, recent requests ------------------------------

async function emulatorPage() {
  const [snapshots, faults] = await Promise.all([
    api.get("/_populace/snapshots"), api.get("/_populace/faults")]);
  const requests = h("div");
  const refresh = async () => {
    const recent = await api.get("/_populace/requests");
    requests.replaceChildren(table("Recent requests (this process, newest first)",
      ["Time", "Method", "Path", "Status", "Correlation-Id"],
      recent.requests.slice(0, 50).map((item) => h("tr", {},
        h("td", {}, new Date(item.at).toLocaleTimeString()), h("td", {}, item.method),
        h("td", {}, h("code", {}, item.path)), h("td", { class: "num" }, item.status),
        h("td", {}, h("code", {}, item.correlationId)))), "No request yet."));
  };
  await refresh();
  polling = setInterval(() => refresh().catch(() => {}), 2000);
  const danger = (text, label, question, request, done) => h("button", { type: "button",
    class: "danger", "aria-label": label, onclick: async (event) => {
      if (!confirmed(question)) return;
      try { await request(); await redrawn(done); } catch (error) { event.target.after(problem(error)); }
    } }, text);
  return [
    h("h1", { tabindex: "-1" }, "Emulator"),
    h("section", { "aria-label": "Reset" }, h("h2", {}, "Reset"),
      h("p", {}, "Back to a first start: only the organization, the Administrators environment " +
        "and its Worker application remain."),
      danger("Reset the emulator", null, "Delete everything but the bootstrap administrator?",
        () => api.post("/_populace/reset"), "Reset.")),
    h("section", { "aria-label": "Snapshots" }, h("h2", {}, "Snapshots"),
      table("Snapshots", ["Name", "Taken", "Size", ""], embedded(snapshots, "snapshots")
        .map((item) => h("tr", {}, h("td", {}, item.name), h("td", {}, item.createdAt),
          h("td", { class: "num" }, `${item.size} B`),
          h("td", { class: "actions" },
            danger("Restore", `Restore ${item.name}`, `Restore the snapshot ${item.name}?`,
              () => api.post(`/_populace/snapshots/${item.name}/restore`), "Restored."), " ",
            danger("Delete", `Delete snapshot ${item.name}`, `Delete the snapshot ${item.name}?`,
              () => api.delete(`/_populace/snapshots/${item.name}`), "Deleted.")))))),
    form("Take a snapshot", [{ name: "name", label: "Snapshot name", required: true }],
      "Take snapshot", async (values) => {
        await api.post("/_populace/snapshots", { name: values.name });
        await redrawn("Snapshot taken.");
      }),
    h("section", { "aria-label": "Fault rules" }, h("h2", {}, "Fault rules"),
      table("Active fault rules", ["Method", "Path", "Status", "Latency", "Uses left", ""],
        embedded(faults, "faults").map((item) => h("tr", {}, h("td", {}, item.method),
          h("td", {}, h("code", {}, item.path)), h("td", {}, item.status ?? ""),
          h("td", {}, item.latencyMs !== undefined ? `${item.latencyMs} ms` : ""),
          h("td", {}, item.remaining ?? ""),
          h("td", { class: "actions" }, danger("Remove", `Remove the rule for ${item.path}`,
            `Remove the fault rule for ${item.method} ${item.path}?`,
            () => api.delete(`/_populace/faults/${item.id}`), "Rule removed.")))),
        "No fault rule: every request is served as usual.")),
    form("Add a fault rule", [
      { name: "method", label: "Method", value: "*" },
      { name: "path", label: "Path (a glob)", required: true, placeholder: "/v1/environments/*/users" },
      { name: "status", label: "Status to answer", type: "number" },
      { name: "latencyMs", label: "Latency (ms)", type: "number" },
      { name: "count", label: "Uses (empty: until removed)", type: "number" },
    ], "Add rule", async (values) => {
      const body = { method: values.method || "*", path: values.path };
      for (const key of ["status", "latencyMs", "count"]) {
        if (values[key]) body[key] = Number(values[key]);
      }
      await api.post("/_populace/faults", body);
      await redrawn("Rule added.");
    }),
    h("section", { "aria-label": "Recent requests" }, h("h2", {}, "Recent requests"), requests),
  ];
}

// --- routing -----------------------------------------------------------------------------------

const ROUTES = [
  [/^#\/signin$/, (m, query) => signInPage(query)],
  [/^#\/environments$/, () => environmentsPage()],
  [/^#\/environments\/([^/]+)\/populations$/, (m) => populationsPage(m[1])],
  [/^#\/environments\/([^/]+)\/populations\/([^/]+)$/, (m) => populationPage(m[1], m[2])],
  [/^#\/environments\/([^/]+)\/users$/, (m, query) => usersPage(m[1], query)],
  [/^#\/environments\/([^/]+)\/users\/([^/]+)$/, (m) => userPage(m[1], m[2])],
  [/^#\/environments\/([^/]+)\/groups$/, (m) => groupsPage(m[1])],
  [/^#\/environments\/([^/]+)\/applications$/, (m) => applicationsPage(m[1])],
  [/^#\/environments\/([^/]+)\/applications\/([^/]+)$/, (m) => applicationPage(m[1], m[2])],
  [/^#\/emulator$/, () => emulatorPage()],
];

async function route() {
  const current = ++rendering;
  if (polling) { clearInterval(polling); polling = null; }
  const [hash, search] = (location.hash || "#/").split("?");
  if (!session && hash !== "#/signin") {
    try { session = await call("GET", "/console/session"); } catch { session = null; }
    if (!session) { location.hash = "#/signin"; return; }
  }
  if (hash === "#/" || (session && hash === "#/signin")) {
    location.hash = `#/environments/${session.environmentId}/populations`;
    return;
  }
  drawHeader(hash);
  const main = document.getElementById("main");
  const found = ROUTES.map(([pattern, page]) => [hash.match(pattern), page])
    .find(([match]) => match);
  let content;
  try {
    content = found ? await found[1](found[0], new URLSearchParams(search || ""))
      : [h("h1", { tabindex: "-1" }, "Not found"), h("p", {}, "No such page.")];
  } catch (error) {
    if (error.status === 401) return;
    content = [h("h1", { tabindex: "-1" }, "Something was refused"), problem(error)];
  }
  if (current !== rendering) return;
  main.replaceChildren(...content.flat().filter(Boolean));
  // Which route the page now shows (tests wait for it: a heading may be the previous page's).
  main.dataset.route = hash;
  const heading = main.querySelector("h1");
  if (heading) heading.focus();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);
