/* Agent console, canned replies: typing "/" and a few letters in a reply box lists the matching snippets (personal
   ones and those of the agent's skill groups); Enter or Tab inserts the chosen one, arrows move, Esc closes. The
   快捷回复 tab manages them (agents their own, supervisors the teams'). Loads after agent.js (window.kefuConsole). */
"use strict";

(() => {
  const { el, clear, toast } = kefu;
  const $ = (id) => document.getElementById(id);
  const BOXES = ["reply-text", "t-reply-text"];  // the chat composer and the ticket reply
  const MAX_SHOWN = 8;
  let ui = null;
  let snippets = [];

  document.addEventListener("kefu:ready", () => {
    ui = window.kefuConsole;
    fillScopes();
    load();
  });
  document.addEventListener("kefu:tab", (event) => { if (event.detail === "canned") load(); });

  async function load() {
    try {
      snippets = await ui.call("/api/v1/canned-replies");
    } catch (err) {
      toast(`读取快捷回复失败：${err.message}`, "error");
      return;
    }
    renderTable();
  }

  const scopeName = (s) => (s.scope === "personal" ? "个人" : `技能组：${ui.SKILLS[s.skill] || s.skill}`);

  // ------------------------------------------------------------------ the "/" shortcut
  const pop = el("ul", { class: "canned-pop", id: "canned-pop", role: "listbox", "aria-label": "快捷回复" });
  pop.hidden = true;
  document.body.append(pop);
  let open = null;  // {box, start, caret, found, index}

  /** The "/word" right before the caret (at the start or after a space), or null. */
  function tokenAt(box) {
    if (box.selectionStart !== box.selectionEnd) return null;
    const caret = box.selectionStart;
    const m = /(^|\s)\/([^\s/]{0,32})$/.exec(box.value.slice(0, caret));
    return m ? { start: caret - m[2].length - 1, caret, query: m[2].toLowerCase() } : null;
  }

  function matching(query) {
    const starts = (s) => s.shortcut.toLowerCase().startsWith(query);
    const found = snippets.filter((s) => !query || starts(s) || s.shortcut.toLowerCase().includes(query)
      || s.title.toLowerCase().includes(query));
    return found.sort((a, b) => Number(starts(b)) - Number(starts(a))).slice(0, MAX_SHOWN);
  }

  function close() {
    open = null;
    pop.hidden = true;
    clear(pop);
  }

  function update(box) {
    const token = tokenAt(box);
    const found = token ? matching(token.query) : [];
    if (!token || !found.length) { close(); return; }
    open = { box, ...token, found, index: 0 };
    render();
  }

  function render() {
    clear(pop);
    open.found.forEach((s, i) => {
      pop.append(el("li", {
        role: "option", class: i === open.index ? "active" : "", "aria-selected": i === open.index ? "true" : "false",
        dataset: { shortcut: s.shortcut },
        onmousedown: (event) => { event.preventDefault(); open.index = i; insert(); },
      }, el("span", { class: "sc", text: `/${s.shortcut}` }), el("span", { class: "title", text: s.title }),
      el("span", { class: "preview", text: s.text })));
    });
    const rect = open.box.getBoundingClientRect();
    pop.style.left = `${Math.round(rect.left)}px`;
    pop.style.width = `${Math.round(Math.max(320, Math.min(rect.width, 560)))}px`;
    pop.style.bottom = `${Math.round(window.innerHeight - rect.top + 4)}px`;
    pop.hidden = false;
  }

  function insert() {
    const { box, start, caret, found, index } = open;
    const text = found[index].text;
    box.value = box.value.slice(0, start) + text + box.value.slice(caret);
    const at = start + text.length;
    box.setSelectionRange(at, at);
    close();
    box.focus();
  }

  for (const id of BOXES) {
    const box = $(id);
    if (!box) continue;
    box.addEventListener("input", () => update(box));
    box.addEventListener("click", () => update(box));
    box.addEventListener("blur", () => setTimeout(() => {
      if (open && open.box === box && document.activeElement !== box) close();  // unless the agent came back
    }, 150));
    // capture: before the page's own Enter handling
    box.addEventListener("keydown", (event) => {
      if (!open || open.box !== box) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const n = open.found.length;
        open.index = (open.index + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
        render();
      } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey && !event.shiftKey) || event.key === "Tab") {
        event.preventDefault();
        event.stopImmediatePropagation();
        insert();
      } else if (event.key === "Escape") {
        event.preventDefault();
        close();
      }
    }, true);
  }

  // ------------------------------------------------------------------ management (the 快捷回复 tab)
  function fillScopes() {
    const select = $("canned-scope");
    if (!["supervisor", "admin"].includes(ui.me().role)) return;
    for (const [skill, name] of Object.entries(ui.SKILLS)) {
      select.append(el("option", { value: `team:${skill}`, text: `技能组：${name}（全组可用）` }));
    }
  }

  function renderTable() {
    const body = clear($("canned-body"));
    if (!snippets.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "还没有快捷回复，请在右侧新增" })));
    for (const s of snippets) {
      body.append(el("tr", { dataset: { cannedId: String(s.id), shortcut: s.shortcut } },
        el("td", {}, el("code", { text: `/${s.shortcut}` })), el("td", { text: s.title }),
        el("td", { class: "canned-text", text: s.text }), el("td", { class: "muted", text: scopeName(s) }),
        el("td", {}, s.editable ? [
          el("button", { type: "button", class: "small", text: "编辑", onclick: () => edit(s) }), " ",
          el("button", { type: "button", class: "small danger", text: "删除", onclick: () => remove(s) }),
        ] : el("span", { class: "muted", text: "由主管维护" }))));
    }
  }

  function resetForm() {
    $("canned-id").value = "";
    $("canned-scope").disabled = false;
    $("canned-scope").value = "personal";
    for (const id of ["canned-shortcut", "canned-title", "canned-text"]) $(id).value = "";
    $("canned-form-title").textContent = "新增快捷回复";
  }

  function edit(s) {
    $("canned-id").value = String(s.id);
    $("canned-scope").value = s.scope === "personal" ? "personal" : `team:${s.skill}`;
    $("canned-scope").disabled = true;  // the owner of a snippet does not change
    $("canned-shortcut").value = s.shortcut;
    $("canned-title").value = s.title;
    $("canned-text").value = s.text;
    $("canned-form-title").textContent = `编辑快捷回复 /${s.shortcut}`;
    $("canned-shortcut").focus();
  }

  async function remove(s) {
    if (!window.confirm(`确定删除快捷回复 /${s.shortcut}（${s.title}）吗？`)) return;
    try {
      await ui.call(`/api/v1/canned-replies/${s.id}`, { method: "DELETE" });
      toast("快捷回复已删除", "ok");
      if ($("canned-id").value === String(s.id)) resetForm();
      load();
    } catch (err) {
      toast(`删除失败：${err.message}`, "error");
    }
  }

  $("canned-cancel").addEventListener("click", resetForm);
  $("canned-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = $("canned-id").value;
    const fields = { shortcut: $("canned-shortcut").value.trim(), title: $("canned-title").value.trim(),
      text: $("canned-text").value.trim() };
    if (!/^[A-Za-z0-9_\-\u4e00-\u9fff]{1,32}$/.test(fields.shortcut)) {
      toast("快捷码只能使用字母、数字、汉字、- 或 _，最多 32 个字符", "error");
      return;
    }
    if (!fields.title || !fields.text) { toast("请填写标题和内容", "error"); return; }
    try {
      if (id) {
        await ui.call(`/api/v1/canned-replies/${encodeURIComponent(id)}`, { method: "PATCH", body: fields });
        toast("快捷回复已保存", "ok");
      } else {
        const scope = $("canned-scope").value;
        const body = scope === "personal" ? { ...fields, scope: "personal" }
          : { ...fields, scope: "team", skill: scope.slice("team:".length) };
        await ui.call("/api/v1/canned-replies", { method: "POST", body });
        toast("快捷回复已添加", "ok");
      }
      resetForm();
      load();
    } catch (err) {
      toast(`保存失败：${err.status === 409 ? "这个快捷码已被使用，请换一个" : err.message}`, "error");
    }
  });
})();
