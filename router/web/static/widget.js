/* kefu chat widget loader. Embed on any shop page:
 *   <script src="https://kefu.example.com/widget.js" async></script>
 * Optional attributes on the script tag: data-customer-id (the shop's own id for a logged-in shopper) with
 * data-identity-hash (hex HMAC-SHA256(web identity secret, customer id), computed by the shop's server),
 * data-title (button label), data-position="left" (default: right).
 * It adds a floating button and an iframe with the chat (/chat/embed) served by the kefu server itself, so the
 * chat's storage, connections and styles never mix with the shop page's. */
(function () {
  "use strict";
  if (window.__kefuWidget) return;
  var script = document.currentScript || (function () {
    var all = document.querySelectorAll("script[src*='widget.js']");
    return all[all.length - 1];
  })();
  var origin = new URL(script.src, location.href).origin;
  var title = script.getAttribute("data-title") || "在线客服";
  var left = script.getAttribute("data-position") === "left";
  var params = new URLSearchParams();
  var customerId = script.getAttribute("data-customer-id");
  var identityHash = script.getAttribute("data-identity-hash");
  if (customerId && identityHash) {  // a claimed id counts only with the shop server's signature
    params.set("customer_id", customerId);
    params.set("identity_hash", identityHash);
  }
  params.set("host", location.hostname);

  var side = left ? "left" : "right";
  var button = document.createElement("button");
  button.type = "button";
  button.id = "kefu-widget-button";
  button.setAttribute("aria-label", title);
  button.setAttribute("aria-expanded", "false");
  button.textContent = title;
  var bs = button.style;
  bs.position = "fixed"; bs.bottom = "20px"; bs[side] = "20px"; bs.zIndex = "2147483646";
  bs.padding = "12px 18px"; bs.border = "0"; bs.borderRadius = "24px"; bs.cursor = "pointer";
  bs.background = "#e4393c"; bs.color = "#fff"; bs.fontSize = "15px"; bs.boxShadow = "0 4px 14px rgba(0,0,0,.25)";
  bs.fontFamily = "system-ui, -apple-system, 'PingFang SC', 'Microsoft YaHei', 'Noto Sans CJK SC', sans-serif";

  var frame = document.createElement("iframe");
  frame.id = "kefu-widget-frame";
  frame.title = title;
  frame.src = origin + "/chat/embed?" + params.toString();
  frame.setAttribute("allow", "clipboard-write");
  var fs = frame.style;
  fs.position = "fixed"; fs.zIndex = "2147483647"; fs.border = "0"; fs.background = "#fff";
  fs.boxShadow = "0 8px 30px rgba(0,0,0,.3)"; fs.display = "none";

  function layout() {
    var small = window.innerWidth < 600;
    fs.width = small ? "100%" : "380px";
    fs.height = small ? "100%" : "min(620px, calc(100vh - 100px))";
    fs.bottom = small ? "0" : "84px";
    fs[side] = small ? "0" : "20px";
    fs.borderRadius = small ? "0" : "12px";
  }

  var open = false;
  function setOpen(value) {
    open = value;
    layout();
    fs.display = open ? "block" : "none";
    button.setAttribute("aria-expanded", String(open));
    bs.display = open && window.innerWidth < 600 ? "none" : "block";
    try { sessionStorage.setItem("kefu.widget.open", open ? "1" : "0"); } catch (e) { /* storage may be blocked */ }
    tellFrame();
  }
  // the chat counts unread replies only while it is closed, so it hears about every open and close
  function tellFrame() {
    if (frame.contentWindow) frame.contentWindow.postMessage({ kefu: open ? "opened" : "closed" }, origin);
  }

  button.addEventListener("click", function () { setOpen(!open); });
  window.addEventListener("resize", function () { if (open) layout(); });
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data || typeof event.data !== "object") return;
    if (event.data.kefu === "close") setOpen(false);
    if (event.data.kefu === "ready") tellFrame();
    if (event.data.kefu === "unread" && !open) button.textContent = title + "（" + Number(event.data.count || 1) + " 条新消息）";
    if (event.data.kefu === "read") button.textContent = title;
  });

  function mount() {
    document.body.appendChild(frame);
    document.body.appendChild(button);
    var reopen = false;
    try { reopen = sessionStorage.getItem("kefu.widget.open") === "1"; } catch (e) { /* ignore */ }
    setOpen(reopen);
  }
  window.__kefuWidget = { open: function () { setOpen(true); }, close: function () { setOpen(false); } };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
