// The desk's keyboard shortcuts (工作台快捷键).  Active on /desk only, never while typing:
//   J / ↓  next case      K / ↑  previous case      A 签收 accept     D 派单 dispatch
//   S 开始处置 start       R 办结 resolve (needs a note: focuses it first)
//   E 上报 escalate        B 退回 return             N note            ? this help
(function () {
    const ACTIONS = {a: "accept", d: "dispatch", s: "start", r: "resolve", e: "escalate",
                     b: "return"};
    const NEEDS_NOTE = {resolve: true, return: true};

    function typing(target) {
        const tag = (target && target.tagName) || "";
        return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" ||
            (target && target.isContentEditable);
    }
    function rows() {
        return Array.from(document.querySelectorAll("#d-rows .om-wd-open"));
    }
    function openCase(step) {
        const list = rows();
        if (!list.length) { return; }
        const title = document.querySelector("#d-detail h2");
        const current = title ? (title.textContent.match(/^#(\d+)/) || [])[1] : null;
        let at = list.findIndex(b => b.textContent === "#" + current);
        at = at < 0 ? (step > 0 ? 0 : list.length - 1)
            : Math.min(list.length - 1, Math.max(0, at + step));
        list[at].click();
        list[at].scrollIntoView({block: "nearest"});
    }
    function actionButton(action) {
        return Array.from(document.querySelectorAll("#d-detail button.om-act")).find(b => {
            try { return JSON.parse(b.id).action === action; } catch (e) { return false; }
        });
    }
    function help() {
        let box = document.getElementById("d-keys-help");
        if (box) { box.remove(); return; }
        box = document.createElement("div");
        box.id = "d-keys-help";
        box.className = "om-panel om-keys-help";
        box.textContent = "J/K 上下一件 · A 签收 · D 派单 · S 开始处置 · R 办结 · E 上报 · " +
            "B 退回 · N 填写意见 · ? 帮助（Esc 关闭） / J/K next/previous · A accept · " +
            "D dispatch · S start · R resolve · E escalate · B return · N note";
        document.body.appendChild(box);
    }

    document.addEventListener("keydown", function (ev) {
        if (!document.querySelector(".om-workdesk")) { return; }
        if (ev.key === "Escape") {
            const box = document.getElementById("d-keys-help");
            if (box) { box.remove(); }
            if (typing(ev.target)) { ev.target.blur(); }
            return;
        }
        if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
        const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
        if (key === "j" || key === "ArrowDown") { openCase(1); }
        else if (key === "k" || key === "ArrowUp") { openCase(-1); }
        else if (key === "n") { const note = document.getElementById("d-note"); if (note) { note.focus(); } }
        else if (key === "?") { help(); }
        else if (ACTIONS[key]) {
            const action = ACTIONS[key];
            const button = actionButton(action);
            if (!button) { return; }
            const note = document.getElementById("d-note");
            if (NEEDS_NOTE[action] && note && !note.value.trim()) { note.focus(); }
            else { button.click(); }
        } else { return; }
        ev.preventDefault();
    });
})();
