//! Every word the consumer pages show, one table per language, and the
//! reader's date format. Adding a language is adding one table here.

use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::HeaderMap;

use crate::domain::feedback::{Category, FeedbackError};
use crate::domain::statement::EventType;
use crate::domain::time::{Date, Timestamp};
use crate::domain::verdict::{SuspectReason, Verdict};

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 简体中文.
    Zh,
    /// English.
    En,
}

/// The words of one language.
#[derive(Debug)]
pub struct Strings {
    /// `lang` attribute.
    pub html_lang: &'static str,
    /// `?lang=` value.
    pub code: &'static str,
    /// Name of the other language, for the switch link.
    pub other_name: &'static str,
    /// `?lang=` value of the other language.
    pub other_code: &'static str,
    pub genuine: &'static str,
    pub genuine_advice: &'static str,
    pub recalled: &'static str,
    pub recalled_advice: &'static str,
    pub expired: &'static str,
    pub expired_advice: &'static str,
    pub suspect: &'static str,
    pub suspect_many: &'static str,
    pub suspect_never_retail: &'static str,
    pub unknown: &'static str,
    pub unknown_advice: &'static str,
    pub how_to_report: &'static str,
    /// "{date}" is replaced.
    pub first_verified: &'static str,
    /// "{n}" is replaced.
    pub scanned_times: &'static str,
    pub recall_reason: &'static str,
    pub what_to_do: &'static str,
    pub lot: &'static str,
    pub serial: &'static str,
    pub factory: &'static str,
    pub produced: &'static str,
    pub line: &'static str,
    pub expires: &'static str,
    pub raw_materials: &'static str,
    pub supplier: &'static str,
    pub origin: &'static str,
    pub process: &'static str,
    pub custody: &'static str,
    /// "{party}" and "{key}" are replaced.
    pub signed_by: &'static str,
    pub inspections: &'static str,
    /// Label of an inspection's method or standard.
    pub inspection_method: &'static str,
    /// Label of the SHA-256 of an inspection certificate.
    pub inspection_certificate: &'static str,
    pub sale: &'static str,
    /// "{date}" and "{place}" are replaced.
    pub sold_on: &'static str,
    pub not_sold: &'static str,
    /// Sold, then taken back by the shop; "{date}" is when it was brought back.
    pub returned_on: &'static str,
    pub ev_shipping: &'static str,
    pub ev_receiving: &'static str,
    pub ev_selling: &'static str,
    pub ev_returning: &'static str,
    pub ev_accepting_return: &'static str,
    pub ev_recalling: &'static str,
    pub ev_inspecting: &'static str,
    pub ev_destroying: &'static str,
    pub ev_packing: &'static str,
    pub ev_unpacking: &'static str,
    pub fb_title: &'static str,
    pub fb_rating: &'static str,
    pub fb_problem: &'static str,
    pub fb_no_problem: &'static str,
    pub cat_quality: &'static str,
    pub cat_packaging: &'static str,
    pub cat_counterfeit: &'static str,
    pub cat_adverse: &'static str,
    pub cat_other: &'static str,
    pub fb_comment: &'static str,
    pub fb_contact: &'static str,
    pub fb_contact_hint: &'static str,
    pub fb_send: &'static str,
    pub ret_title: &'static str,
    pub ret_hint: &'static str,
    pub ret_return: &'static str,
    pub ret_exchange: &'static str,
    pub ret_send: &'static str,
    pub thanks_title: &'static str,
    pub thanks_feedback: &'static str,
    pub thanks_request: &'static str,
    pub you_wrote: &'static str,
    pub back: &'static str,
    pub cannot_send: &'static str,
    pub form_expired: &'static str,
    pub not_returnable: &'static str,
    pub too_many_feedback: &'static str,
    pub err_kind: &'static str,
    pub err_rating: &'static str,
    pub err_category: &'static str,
    pub err_comment_long: &'static str,
    pub err_contact_long: &'static str,
    pub err_empty: &'static str,
    pub err_control: &'static str,
    pub bad_label_title: &'static str,
    pub bad_label_text: &'static str,
    pub bad_label_detail: &'static str,
    pub too_large: &'static str,
    pub rate_title: &'static str,
    pub rate_text: &'static str,
    pub server_error: &'static str,
    pub linkset: &'static str,
}

/// English.
pub static EN: Strings = Strings {
    html_lang: "en",
    code: "en",
    other_name: "中文",
    other_code: "zh",
    genuine: "Genuine",
    genuine_advice: "The factory's signature on this label is verified and the unit is on record.",
    recalled: "Recalled — do not use",
    recalled_advice: "This product is under recall.",
    expired: "Expired",
    expired_advice: "This unit is past its expiry date. Do not use it.",
    suspect: "Suspect — label may be copied",
    suspect_many: "The label is genuine, but it has been scanned from many different phones since it was sold. It may have been copied onto other packs.",
    suspect_never_retail: "The label is genuine, but this unit was never delivered to a shop. It should not be on sale.",
    unknown: "Could not verify — possibly counterfeit",
    unknown_advice: "There is no such unit on record, or the label's signature does not verify.",
    how_to_report: "Keep the pack and receipt, tell the shop, and report it below or to the consumer hotline 12315.",
    first_verified: "First verified on {date}",
    scanned_times: "scanned {n} times",
    recall_reason: "Reason",
    what_to_do: "What to do",
    lot: "Lot",
    serial: "Serial",
    factory: "Made by",
    produced: "Produced",
    line: "Production line",
    expires: "Best before",
    raw_materials: "Raw materials",
    supplier: "Supplier",
    origin: "Origin",
    process: "Process",
    custody: "Journey",
    signed_by: "✓ signature of {party} verified (key {key})",
    inspections: "Inspections",
    inspection_method: "Method",
    inspection_certificate: "Certificate SHA-256",
    sale: "Sale",
    sold_on: "Sold on {date} at {place}",
    not_sold: "Not sold yet.",
    returned_on: "Returned to the shop on {date}; not sold since.",
    ev_shipping: "Shipped",
    ev_receiving: "Received",
    ev_selling: "Sold",
    ev_returning: "Returned",
    ev_accepting_return: "Return accepted",
    ev_recalling: "Recalled",
    ev_inspecting: "Inspected",
    ev_destroying: "Destroyed",
    ev_packing: "Packed",
    ev_unpacking: "Unpacked",
    fb_title: "Your feedback",
    fb_rating: "Rating",
    fb_problem: "Report a problem",
    fb_no_problem: "No problem",
    cat_quality: "Quality",
    cat_packaging: "Packaging",
    cat_counterfeit: "Suspected counterfeit",
    cat_adverse: "Adverse reaction",
    cat_other: "Other",
    fb_comment: "Comment",
    fb_contact: "Contact (optional)",
    fb_contact_hint: "phone or e-mail, only if you want a reply",
    fb_send: "Send",
    ret_title: "Return or exchange",
    ret_hint: "You bought this unit: ask the shop that sold it for a return or exchange.",
    ret_return: "Return",
    ret_exchange: "Exchange",
    ret_send: "Send request",
    thanks_title: "Thank you",
    thanks_feedback: "Your feedback has been sent to the shop, the wholesaler and the factory.",
    thanks_request: "Your request has been sent to the shop that sold this unit.",
    you_wrote: "You wrote",
    back: "Back to the product",
    cannot_send: "Could not send",
    form_expired: "This form has expired or was not sent from this page. Go back, reload the page and try again.",
    not_returnable: "Only a unit that was sold to a consumer, with a verified label, can be returned or exchanged.",
    too_many_feedback: "Too many messages about this unit today. Please try again tomorrow.",
    err_kind: "Unknown request.",
    err_rating: "The rating must be from 1 to 5.",
    err_category: "Unknown problem category.",
    err_comment_long: "The comment is too long (at most 2000 characters).",
    err_contact_long: "The contact is too long (at most 100 characters).",
    err_empty: "Give a rating, choose a problem or write a comment.",
    err_control: "The text contains characters that cannot be stored.",
    bad_label_title: "This is not a label we can read",
    bad_label_text: "The address does not match a product label. Scan the code again; if it still fails, the label may be damaged or fake.",
    bad_label_detail: "What is wrong",
    too_large: "What you sent is too large.",
    rate_title: "Too many requests",
    rate_text: "Too many requests from your network. Wait a few seconds and try again.",
    server_error: "Something went wrong on our side. Please try again in a minute.",
    linkset: "Links for apps",
};

/// 简体中文.
pub static ZH: Strings = Strings {
    html_lang: "zh-CN",
    code: "zh",
    other_name: "English",
    other_code: "en",
    genuine: "正品",
    genuine_advice: "标签上的厂家签名已验证，此商品在册。",
    recalled: "已召回 — 请勿使用",
    recalled_advice: "此产品正在召回。",
    expired: "已过期",
    expired_advice: "此商品已超过保质期，请勿使用。",
    suspect: "可疑 — 标签可能被复制",
    suspect_many: "标签是真的，但售出后已被许多不同手机扫描，可能被复制到其他包装上。",
    suspect_never_retail: "标签是真的，但此商品从未送达任何门店，不应在售。",
    unknown: "无法验证 — 可能是假冒产品",
    unknown_advice: "查无此商品，或标签签名无法验证。",
    how_to_report: "请保留包装和购物凭证，告知门店，并在下方反馈或拨打消费者投诉热线 12315。",
    first_verified: "首次验证于 {date}",
    scanned_times: "已扫描 {n} 次",
    recall_reason: "原因",
    what_to_do: "处理办法",
    lot: "批号",
    serial: "序列号",
    factory: "生产厂家",
    produced: "生产日期",
    line: "生产线",
    expires: "保质期至",
    raw_materials: "原料",
    supplier: "供应商",
    origin: "产地",
    process: "生产工艺",
    custody: "流通记录",
    signed_by: "✓ 已验证 {party} 的签名（密钥 {key}）",
    inspections: "检验",
    inspection_method: "检验方法",
    inspection_certificate: "证书 SHA-256",
    sale: "销售",
    sold_on: "{date} 售出于 {place}",
    not_sold: "尚未售出。",
    returned_on: "{date} 已退回门店，此后尚未再次售出。",
    ev_shipping: "发货",
    ev_receiving: "收货",
    ev_selling: "售出",
    ev_returning: "退货",
    ev_accepting_return: "退货已受理",
    ev_recalling: "召回",
    ev_inspecting: "检验",
    ev_destroying: "销毁",
    ev_packing: "装箱",
    ev_unpacking: "拆箱",
    fb_title: "您的评价",
    fb_rating: "评分",
    fb_problem: "反映问题",
    fb_no_problem: "没有问题",
    cat_quality: "质量问题",
    cat_packaging: "包装问题",
    cat_counterfeit: "疑似假冒",
    cat_adverse: "不良反应",
    cat_other: "其他",
    fb_comment: "留言",
    fb_contact: "联系方式（选填）",
    fb_contact_hint: "手机或邮箱，仅在需要回复时填写",
    fb_send: "提交",
    ret_title: "退货或换货",
    ret_hint: "您购买了此商品：可向售出门店申请退货或换货。",
    ret_return: "退货",
    ret_exchange: "换货",
    ret_send: "提交申请",
    thanks_title: "谢谢",
    thanks_feedback: "您的反馈已发送给门店、批发商和生产厂家。",
    thanks_request: "您的申请已发送给售出此商品的门店。",
    you_wrote: "您的留言",
    back: "返回产品页面",
    cannot_send: "无法提交",
    form_expired: "表单已过期或并非从本页提交。请返回、刷新页面后重试。",
    not_returnable: "只有已售出且标签验证通过的商品才能退换。",
    too_many_feedback: "今天关于此商品的留言过多，请明天再试。",
    err_kind: "未知的申请类型。",
    err_rating: "评分须为 1 到 5。",
    err_category: "未知的问题类别。",
    err_comment_long: "留言过长（最多 2000 字）。",
    err_contact_long: "联系方式过长（最多 100 字）。",
    err_empty: "请评分、选择问题或填写留言。",
    err_control: "文字中含有无法保存的字符。",
    bad_label_title: "无法识别此标签",
    bad_label_text: "此网址不是有效的产品标签。请重新扫码；如仍失败，标签可能已损坏或是假冒。",
    bad_label_detail: "具体问题",
    too_large: "提交的内容过大。",
    rate_title: "请求过于频繁",
    rate_text: "您所在网络的请求过多，请稍等几秒再试。",
    server_error: "服务器出错，请稍后再试。",
    linkset: "应用程序链接",
};

impl Lang {
    /// The word table.
    pub fn strings(self) -> &'static Strings {
        match self {
            Lang::Zh => &ZH,
            Lang::En => &EN,
        }
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next()?.trim();
        if primary.eq_ignore_ascii_case("zh") {
            Some(Lang::Zh)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// `?lang=` wins when it names a language we have; then the best
    /// `Accept-Language` entry we have (by q-value, then order); then English.
    pub fn choose(query_lang: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(l) = query_lang.and_then(Lang::from_tag) {
            return l;
        }
        let header = headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Lang::from_accept_language(header).unwrap_or(Lang::En)
    }

    /// The preferred supported language of an `Accept-Language` value.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(u32, Lang)> = None;
        // Bounded: a huge header costs at most this many entries.
        for item in header.split(',').take(32) {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(|t| Lang::from_tag(t.trim())) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(1000, parse_q);
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }
}

// q-values in thousandths; anything unreadable counts as 0 (not acceptable).
fn parse_q(s: &str) -> u32 {
    match s.trim().parse::<f32>() {
        Ok(q) if (0.0..=1.0).contains(&q) => (q * 1000.0).round() as u32,
        _ => 0,
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Strings {
    /// A calendar date in the reader's format.
    pub fn date(&self, d: Date) -> String {
        let (y, m, day) = d.ymd();
        if self.code == "zh" {
            format!("{y}年{m}月{day}日")
        } else {
            let month = MONTHS[usize::from(m.clamp(1, 12)) - 1];
            format!("{day} {month} {y}")
        }
    }

    /// A time in the reader's format: Beijing time for Chinese, UTC for English.
    pub fn time(&self, t: Timestamp) -> String {
        if self.code == "zh" {
            let local = Timestamp::from_unix(t.unix() + 8 * 3600);
            let hm = &local.to_string()[11..16];
            format!("{} {hm}（北京时间）", self.date(local.date()))
        } else {
            let hm = &t.to_string()[11..16];
            format!("{} {hm} UTC", self.date(t.date()))
        }
    }

    /// Headline of a verdict.
    pub fn verdict(&self, v: Verdict) -> &'static str {
        match v {
            Verdict::Genuine => self.genuine,
            Verdict::Recalled => self.recalled,
            Verdict::Expired => self.expired,
            Verdict::Suspect => self.suspect,
            Verdict::Unknown => self.unknown,
        }
    }

    /// What the verdict means for the reader.
    pub fn advice(&self, v: Verdict, reason: Option<SuspectReason>) -> &'static str {
        match (v, reason) {
            (Verdict::Genuine, _) => self.genuine_advice,
            (Verdict::Recalled, _) => self.recalled_advice,
            (Verdict::Expired, _) => self.expired_advice,
            (Verdict::Suspect, Some(SuspectReason::NeverReachedRetail)) => {
                self.suspect_never_retail
            }
            (Verdict::Suspect, _) => self.suspect_many,
            (Verdict::Unknown, _) => self.unknown_advice,
        }
    }

    /// Name of a custody step.
    pub fn event(&self, t: EventType) -> &'static str {
        match t {
            EventType::Shipping => self.ev_shipping,
            EventType::Receiving => self.ev_receiving,
            EventType::RetailSelling => self.ev_selling,
            EventType::Returning => self.ev_returning,
            EventType::AcceptingReturn => self.ev_accepting_return,
            EventType::Recalling => self.ev_recalling,
            EventType::Inspecting => self.ev_inspecting,
            EventType::Destroying => self.ev_destroying,
            EventType::Packing => self.ev_packing,
            EventType::Unpacking => self.ev_unpacking,
        }
    }

    /// Name of a problem category.
    pub fn category(&self, c: Category) -> &'static str {
        match c {
            Category::Quality => self.cat_quality,
            Category::Packaging => self.cat_packaging,
            Category::SuspectedCounterfeit => self.cat_counterfeit,
            Category::AdverseReaction => self.cat_adverse,
            Category::Other => self.cat_other,
        }
    }

    /// A refused feedback, in words.
    pub fn feedback_error(&self, e: &FeedbackError) -> &'static str {
        match e {
            FeedbackError::Kind => self.err_kind,
            FeedbackError::Rating => self.err_rating,
            FeedbackError::Category => self.err_category,
            FeedbackError::CommentTooLong => self.err_comment_long,
            FeedbackError::ContactTooLong => self.err_contact_long,
            FeedbackError::Empty => self.err_empty,
            FeedbackError::Control => self.err_control,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn language_choice() {
        assert_eq!(Lang::choose(None, &HeaderMap::new()), Lang::En);
        assert_eq!(Lang::choose(None, &h("zh-CN,zh;q=0.9,en;q=0.8")), Lang::Zh);
        assert_eq!(Lang::choose(None, &h("en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::choose(None, &h("fr-FR, en;q=0.5, zh;q=0.7")),
            Lang::Zh
        );
        assert_eq!(Lang::choose(None, &h("zh;q=0, en;q=0.1")), Lang::En);
        assert_eq!(Lang::choose(None, &h("zh-Hant-TW")), Lang::Zh);
        assert_eq!(Lang::choose(None, &h("de")), Lang::En);
        assert_eq!(Lang::choose(Some("zh"), &h("en")), Lang::Zh);
        assert_eq!(Lang::choose(Some("en"), &h("zh")), Lang::En);
        // Unknown ?lang= falls back to the header.
        assert_eq!(Lang::choose(Some("klingon"), &h("zh")), Lang::Zh);
        assert_eq!(Lang::choose(Some(""), &HeaderMap::new()), Lang::En);
        assert_eq!(Lang::from_accept_language("zh;q=abc"), None);
    }

    #[test]
    fn dates_in_the_readers_format() {
        let d = Date::parse("2026-10-05").unwrap();
        assert_eq!(EN.date(d), "5 Oct 2026");
        assert_eq!(ZH.date(d), "2026年10月5日");
        let t = Timestamp::parse("2026-10-25T17:12:00Z").unwrap();
        assert_eq!(EN.time(t), "25 Oct 2026 17:12 UTC");
        assert_eq!(ZH.time(t), "2026年10月26日 01:12（北京时间）");
    }
}
