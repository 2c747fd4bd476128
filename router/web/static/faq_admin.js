/* FAQ admin for content staff: list/search/filter, edit entries and paraphrases, duplicates, history with diff and
   rollback, "try a question", import/export, publish. */
"use strict";

(() => {
  const { el, clear, api, fmtDateTime, toast } = kefu;
  const $ = (id) => document.getElementById(id);
  const API = "/api/v1/admin/faq";
  const DECISION = { answer: "直接回答", clarify: "反问确认（您是不是想问…）", decline: "不属于本店问题，转兜底回复" };
  const ACTION = { baseline: "初始版本", create: "新建", update: "修改", delete: "删除", rollback: "回滚", import: "导入" };
  const FIELD = { category: "分类", question: "标准问题", answer: "答案", paraphrases: "相似问法", tags: "标签" };

  let token = null;
  let entries = [];
  let selected = null;       // the entry being edited (null + creating=true for a new one)
  let creating = false;

  const auth = kefu.loginFlow({
    scope: "faq", roles: ["content"], form: $("login-form"), errorBox: $("login-error"),
    onLogin: ({ token: t, claims }) => {
      token = t;
      $("login").hidden = true;
      $("app").hidden = false;
      $("me-name").textContent = `${claims.name}（${kefu.ROLE_NAMES[claims.role] || claims.role}）`;
      loadEntries();
    },
    onLogout: () => location.reload(),
  });
  $("logout").addEventListener("click", () => auth.logout());

  async function call(path, options = {}) {
    try {
      return await api(path, { ...options, token });
    } catch (err) {
      if (err.status === 401) auth.logout();
      throw err;
    }
  }

  // ------------------------------------------------------------------ list
  let searchTimer = null;
  async function loadEntries() {
    const params = new URLSearchParams();
    if ($("search").value.trim()) params.set("q", $("search").value.trim());
    if ($("filter-category").value) params.set("category", $("filter-category").value);
    if ($("filter-tag").value) params.set("tag", $("filter-tag").value);
    let data;
    try {
      data = await call(`${API}/entries?${params}`);
    } catch (err) {
      toast(`读取条目失败：${err.message}`, "error");
      return;
    }
    entries = data.entries;
    fillSelect($("filter-category"), data.categories, "全部分类");
    fillSelect($("filter-tag"), data.tags, "全部标签");
    const options = clear($("category-options"));
    for (const c of data.categories) options.append(el("option", { value: c }));
    $("list-count").textContent = `共 ${data.total} 条，显示 ${entries.length} 条`;
    renderList();
  }

  function fillSelect(select, values, allLabel) {
    const keep = select.value;
    clear(select).append(el("option", { value: "", text: allLabel }));
    for (const v of values) select.append(el("option", { value: v, text: v, selected: v === keep }));
  }

  function renderList() {
    const list = clear($("entries"));
    for (const e of entries) {
      list.append(el("li", {
        class: selected && selected.id === e.id ? "active" : "", dataset: { entryId: e.id },
        onclick: () => select(e.id),
      }, el("div", { text: e.question }),
      el("div", { class: "id" }, `${e.id} · ${e.category} · v${e.version} · ${e.paraphrases.length} 个相似问法`)));
    }
    if (!entries.length) list.append(el("li", { class: "muted", text: "没有符合条件的条目" }));
  }

  $("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadEntries, 250); });
  $("filter-category").addEventListener("change", loadEntries);
  $("filter-tag").addEventListener("change", loadEntries);

  // ------------------------------------------------------------------ editor
  function fill(entry) {
    $("f-id").value = entry ? entry.id : "";
    $("f-id").readOnly = Boolean(entry);
    $("f-category").value = entry ? entry.category : ($("filter-category").value || "");
    $("f-question").value = entry ? entry.question : "";
    $("f-paraphrases").value = entry ? entry.paraphrases.join("\n") : "";
    $("f-answer").value = entry ? entry.answer : "";
    $("f-tags").value = entry ? entry.tags.join(", ") : "";
    $("f-meta").textContent = entry ? `版本 v${entry.version} · 最后更新 ${fmtDateTime(entry.updated_at)}` : "";
    $("delete").hidden = !entry;
    $("editor-error").textContent = "";
    showWarnings([]);
  }

  async function select(id) {
    let entry;
    try {
      entry = await call(`${API}/entries/${encodeURIComponent(id)}`);
    } catch (err) {
      toast(`读取条目失败：${err.message}`, "error");
      return;
    }
    selected = entry;
    creating = false;
    $("editor").hidden = false;
    $("editor-title").textContent = `编辑：${entry.question}`;
    fill(entry);
    renderList();
    loadHistory(id);
  }

  $("new-entry").addEventListener("click", () => {
    selected = null;
    creating = true;
    $("editor").hidden = false;
    $("editor-title").textContent = "新增条目";
    fill(null);
    clear($("history")).append("新条目保存后显示");
    clear($("diff"));
    renderList();
    $("f-id").focus();
  });

  function draft() {
    return {
      category: $("f-category").value.trim(),
      question: $("f-question").value.trim(),
      paraphrases: $("f-paraphrases").value.split("\n").map((s) => s.trim()).filter(Boolean),
      answer: $("f-answer").value.trim(),
      tags: $("f-tags").value.split(/[,，;；、]/).map((s) => s.trim()).filter(Boolean),
    };
  }

  function showWarnings(warnings) {
    const box = clear($("dup-warnings"));
    box.hidden = !warnings.length;
    if (!warnings.length) return;
    box.append(el("strong", { text: "注意：以下问法与其他条目非常相似，机器人可能混淆" }));
    box.append(el("ul", {}, warnings.map((w) => el("li", {},
      `“${w.sentence}” ≈ `, el("button", { type: "button", class: "link", text: w.other_id, onclick: () => select(w.other_id) }),
      ` 的“${w.other_sentence}”（相似度 ${(w.similarity * 100).toFixed(0)}%）`))));
  }

  $("editor").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("editor-error").textContent = "";
    const body = draft();
    try {
      let res;
      if (creating) {
        res = await call(`${API}/entries`, { method: "POST", body: { id: $("f-id").value.trim(), ...body } });
      } else {
        res = await call(`${API}/entries/${encodeURIComponent(selected.id)}`, {
          method: "PUT", body: { ...body, version: selected.version },
        });
      }
      toast(`已保存（v${res.entry.version}），机器人将在几秒内使用新内容`, "ok");
      showWarnings(res.warnings);
      selected = res.entry;
      creating = false;
      $("editor-title").textContent = `编辑：${selected.question}`;
      fill(selected);
      showWarnings(res.warnings);
      await loadEntries();
      loadHistory(selected.id);
    } catch (err) {
      $("editor-error").textContent = err.code === "FaqVersionConflict"
        ? "该条目已被其他同事修改，请重新打开后再编辑。" : `保存失败：${err.message}`;
    }
  });

  $("check-dup").addEventListener("click", async () => {
    const d = draft();
    try {
      const warnings = await call(`${API}/duplicates/check`, {
        method: "POST", body: { entry_id: selected ? selected.id : ($("f-id").value.trim() || null), sentences: [d.question, ...d.paraphrases] },
      });
      showWarnings(warnings);
      if (!warnings.length) toast("没有发现与其他条目相似的问法", "ok");
    } catch (err) {
      toast(`检查失败：${err.message}`, "error");
    }
  });

  $("delete").addEventListener("click", async () => {
    if (!selected) return;
    if (!window.confirm(`确定删除条目“${selected.question}”吗？删除后可在版本历史中恢复。`)) return;
    try {
      await call(`${API}/entries/${encodeURIComponent(selected.id)}`, { method: "DELETE" });
      toast("已删除", "ok");
      const id = selected.id;
      selected = null;
      $("editor").hidden = true;
      $("editor-title").textContent = "条目已删除";
      await loadEntries();
      loadHistory(id);
    } catch (err) {
      toast(`删除失败：${err.message}`, "error");
    }
  });

  // ------------------------------------------------------------------ history, diff, rollback
  async function loadHistory(id) {
    const box = clear($("history"));
    clear($("diff"));
    let revs;
    try {
      revs = await call(`${API}/entries/${encodeURIComponent(id)}/history`);
    } catch (err) {
      box.textContent = `读取历史失败：${err.message}`;
      return;
    }
    box.className = "";
    if (!revs.length) { box.append(el("div", { class: "muted", text: "尚无修改记录（当前为初始版本）" })); return; }
    box.append(el("ul", {}, revs.slice().reverse().map((r) => el("li", { dataset: { rev: r.rev } },
      el("strong", { text: `#${r.rev} ${ACTION[r.action] || r.action}` }),
      el("span", { class: "muted" }, ` · ${r.user} · ${fmtDateTime(r.at)}${r.entry ? ` · v${r.entry.version}` : ""}`),
      r.note ? el("div", { class: "muted", text: r.note }) : null,
      el("div", {},
        el("button", { type: "button", class: "small", text: "与当前对比", onclick: () => showDiff(id, r.rev) }), " ",
        r.entry ? el("button", { type: "button", class: "small", text: "回滚到此版本", onclick: () => rollback(id, r.rev) }) : null)))));
  }

  async function showDiff(id, rev) {
    const box = clear($("diff"));
    let diffs;
    try {
      diffs = await call(`${API}/entries/${encodeURIComponent(id)}/diff?from_rev=${rev}`);
    } catch (err) {
      box.textContent = `对比失败：${err.message}`;
      return;
    }
    box.append(el("h2", { text: `版本 #${rev} → 当前` }));
    if (!diffs.length) { box.append(el("div", { class: "muted", text: "内容相同" })); return; }
    for (const d of diffs) {
      const field = el("div", { class: "field" }, el("strong", { text: `${FIELD[d.field] || d.field}：` }));
      if (d.changes && d.changes.length) {
        for (const c of d.changes) {
          field.append(c.op === "insert" ? el("ins", { text: c.text }) : c.op === "delete" ? el("del", { text: c.text }) : c.text);
        }
      } else {
        for (const a of d.added || []) field.append(el("div", {}, el("ins", { text: `+ ${a}` })));
        for (const r of d.removed || []) field.append(el("div", {}, el("del", { text: `− ${r}` })));
      }
      box.append(field);
    }
  }

  async function rollback(id, rev) {
    if (!window.confirm(`确定把条目回滚到版本记录 #${rev} 的内容吗？（会生成一个新版本）`)) return;
    try {
      const res = await call(`${API}/entries/${encodeURIComponent(id)}/rollback`, { method: "POST", body: { rev } });
      toast(`已回滚（v${res.entry.version}）`, "ok");
      await loadEntries();
      await select(id);
    } catch (err) {
      toast(`回滚失败：${err.message}`, "error");
    }
  }

  // ------------------------------------------------------------------ try a question, publish
  $("try-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = $("try-question").value.trim();
    if (!question) return;
    const box = clear($("try-result"));
    try {
      const res = await call(`${API}/try`, { method: "POST", body: { question } });
      box.append(el("div", {}, "机器人会：", el("strong", { text: DECISION[res.decision] || res.decision }),
        el("span", { class: "muted", text: `（置信度 ${(res.confidence * 100).toFixed(1)}%）` })));
      box.append(el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "#" }), el("th", { text: "条目" }), el("th", { text: "得分" }))),
        el("tbody", {}, res.top.map((h, i) => el("tr", { class: "try-hit", dataset: { entryId: h.id } },
          el("td", { text: String(i + 1) }),
          el("td", {}, el("button", { type: "button", class: "link", text: h.question, onclick: () => select(h.id) }),
            el("div", { class: "muted", text: h.answer.length > 60 ? `${h.answer.slice(0, 60)}…` : h.answer })),
          el("td", { class: "score", text: h.score.toFixed(3) }))))));
    } catch (err) {
      box.textContent = `查询失败：${err.message}`;
    }
  });

  $("publish").addEventListener("click", async () => {
    const button = $("publish");
    button.disabled = true;
    button.textContent = "正在重建索引…";
    try {
      const res = await call(`${API}/publish`, { method: "POST" });
      toast(`发布成功：线上索引包含 ${res.entries} 个条目、${res.sentences} 个问法${res.in_sync ? "" : "（仍有修改在同步中）"}`, "ok");
    } catch (err) {
      toast(`发布失败：${err.message}`, "error");
    } finally {
      button.disabled = false;
      button.textContent = "发布到线上";
    }
  });

  // ------------------------------------------------------------------ duplicates tab
  async function loadDuplicates() {
    const body = clear($("dups-body"));
    try {
      const dups = await call(`${API}/duplicates`);
      if (!dups.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "没有发现相似问题" })));
      for (const d of dups) {
        body.append(el("tr", {},
          el("td", {}, el("button", { type: "button", class: "link", text: d.entry_id, onclick: () => openEntry(d.entry_id) })),
          el("td", { text: d.sentence }),
          el("td", {}, el("button", { type: "button", class: "link", text: d.other_id, onclick: () => openEntry(d.other_id) })),
          el("td", { text: d.other_sentence }),
          el("td", { class: "score", text: `${(d.similarity * 100).toFixed(0)}%` })));
      }
    } catch (err) {
      body.append(el("tr", {}, el("td", { colspan: 5, class: "error", text: `检查失败：${err.message}` })));
    }
  }
  $("dups-reload").addEventListener("click", loadDuplicates);

  function openEntry(id) {
    showTab("entries");
    select(id);
  }

  // ------------------------------------------------------------------ import / export
  async function exportAs(format) {
    try {
      const res = await api(`${API}/export?format=${format}`, { token, raw: true });
      const name = (res.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
      kefu.download(await res.blob(), name ? name[1] : `faq.${format}`);
    } catch (err) {
      toast(`导出失败：${err.message}`, "error");
    }
  }
  $("export-csv").addEventListener("click", () => exportAs("csv"));
  $("export-xlsx").addEventListener("click", () => exportAs("xlsx"));

  $("import").addEventListener("click", async () => {
    const file = $("import-file").files[0];
    const box = clear($("import-result"));
    if (!file) { box.append(el("div", { class: "error", text: "请先选择文件" })); return; }
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const res = await call(`${API}/import`, { method: "POST", form });
      box.append(el("div", { class: "muted", text: `导入完成：新增 ${res.created.length} 条，更新 ${res.updated.length} 条，未变化 ${res.unchanged.length} 条。` }));
      loadEntries();
    } catch (err) {
      // every invalid row (or the unreadable file) is in `errors`; other failures have only the reason
      const errors = err.body && Array.isArray(err.body.errors) ? err.body.errors : [err.detail];
      box.append(el("div", { class: "error", text: "导入失败，文件中的内容都没有写入。请修正以下问题后重试：" }));
      box.append(el("ul", {}, errors.map((e) => el("li", { text: kefu.describe(e) }))));
    }
  });

  // ------------------------------------------------------------------ tabs
  function showTab(name) {
    for (const tab of document.querySelectorAll(".tabs button")) tab.classList.toggle("active", tab.dataset.tab === name);
    for (const id of ["entries", "duplicates", "transfer"]) $(`tab-${id}`).hidden = id !== name;
    if (name === "duplicates") loadDuplicates();
  }
  for (const tab of document.querySelectorAll(".tabs button")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
})();
