/* The shopper's identity in the chat: the visitor token (localStorage, so a reload keeps the history) and, when the
   shop page signed its logged-in shopper (customer_id + identity_hash), that verified customer. */
"use strict";

const kefuIdentity = (() => {
  const KEYS = ["kefu.visitor_token", "kefu.customer_id", "kefu.verified", "kefu.conversation_id"];
  const HASH_RE = /^[0-9a-fA-F]{64}$/;

  /** The Chinese reason of a failed call (the server sends it as `message`), else the error's text. */
  function reason(err) {
    return (err && err.body && typeof err.body.message === "string" && err.body.message) || (err && err.message) || "";
  }

  function fromPage(idPattern) {
    const params = new URLSearchParams(location.search);
    const given = params.get("customer_id");
    const givenHash = params.get("identity_hash");
    const shop = given && idPattern.test(given) && givenHash && HASH_RE.test(givenHash)
      ? { customer_id: given, identity_hash: givenHash } : null;
    const me = {
      token: localStorage.getItem("kefu.visitor_token"),
      customerId: localStorage.getItem("kefu.customer_id"),
      verified: localStorage.getItem("kefu.verified") === "1",

      forget() {
        for (const key of KEYS) localStorage.removeItem(key);
        me.token = null;
        me.customerId = null;
        me.verified = false;
      },

      remember(res) {
        if (res.visitor_token) {
          me.token = res.visitor_token;
          localStorage.setItem("kefu.visitor_token", res.visitor_token);
        }
        if (res.customer_id) {
          me.customerId = res.customer_id;
          me.verified = Boolean(res.verified);
          localStorage.setItem("kefu.customer_id", res.customer_id);
          localStorage.setItem("kefu.verified", me.verified ? "1" : "0");
        }
      },

      /** A call with the visitor token; a 401 (expired, erased) forgets it. */
      async call(path, options = {}) {
        try {
          return await kefu.api(path, { ...options, token: me.token });
        } catch (err) {
          if (err.status === 401) me.forget();
          throw err;
        }
      },

      /** True once there is a token; a signed-in shopper gets one before the first message. */
      async ready() {
        if (me.token) return true;
        if (!shop) return false;
        me.remember(await kefu.api("/api/v1/channels/web/session", { method: "POST", body: shop }));
        return Boolean(me.token);
      },

      /** The REST message call; an expired token is dropped and the message sent once more as a new visitor. */
      async send(body) {
        const full = { ...body, ...(shop || {}) };
        let res;
        try {
          res = await kefu.api("/api/v1/channels/web/messages", { method: "POST", body: full, token: me.token });
        } catch (err) {
          if (err.status !== 401 || !me.token) throw err;
          me.forget();
          res = await kefu.api("/api/v1/channels/web/messages", { method: "POST", body: full });
        }
        me.remember(res);
        return res;
      },
    };
    // another signed-in shopper, or one who signed out of the shop: this browser's token is not theirs
    if ((shop && shop.customer_id !== me.customerId) || (!shop && me.verified)) me.forget();
    return me;
  }

  return { fromPage, reason };
})();
