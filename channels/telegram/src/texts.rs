//! What the bot says, in Kazakh and Russian (R4). A chat that has not picked a language
//! gets both, Kazakh first, as the state language.

use baylanys_core::Language;

/// Labels of the reply-keyboard button that starts another appeal; both are recognised
/// whatever the chat's language, since an old keyboard may still be on screen.
pub const NEW_APPEAL_KK: &str = "Жаңа өтініш";
pub const NEW_APPEAL_RU: &str = "Новое обращение";

/// Pressing a reply-keyboard button sends its label as text: this recognises any label
/// the bot ever showed, including the bilingual one given before a language is chosen.
pub fn is_new_appeal_label(text: &str) -> bool {
    let both = new_appeal_button().pick_short(None);
    text == NEW_APPEAL_KK || text == NEW_APPEAL_RU || text == both
}

/// The center's numbers and address (R2), quoted in help and error texts.
pub const PHONES: &str = "1414, 8 800 080 7777";
pub const EMAIL: &str = "support@goscorp.kz";

/// A text in both official languages; `pick` chooses by the chat's language.
pub struct Text {
    pub kk: String,
    pub ru: String,
}

impl Text {
    fn new(kk: impl Into<String>, ru: impl Into<String>) -> Self {
        Text {
            kk: kk.into(),
            ru: ru.into(),
        }
    }

    /// The chat's language, or both when it has none (English falls back to Russian:
    /// applicants write in an official language).
    pub fn pick(self, language: Option<Language>) -> String {
        match language {
            Some(Language::Kk) => self.kk,
            Some(Language::Ru | Language::En) => self.ru,
            None => format!("{}\n\n{}", self.kk, self.ru),
        }
    }

    /// For short labels (buttons, callback answers) where two paragraphs do not fit.
    pub fn pick_short(self, language: Option<Language>) -> String {
        match language {
            Some(Language::Kk) => self.kk,
            Some(Language::Ru | Language::En) => self.ru,
            None => format!("{} / {}", self.kk, self.ru),
        }
    }
}

pub fn greeting() -> Text {
    Text::new(
        "Сәлеметсіз бе! Бұл — «1414» Бірыңғай байланыс орталығының боты. Мемлекеттік және \
         электрондық қызметтер бойынша өтінішіңізді осында жаза аласыз: мәтін, фото, құжат, \
         дауыстық хабар, бейне, орналасқан жер. Әр өтінішке тіркеу нөмірі беріледі, жауап екі \
         жұмыс күні ішінде беріледі. Телефон нөміріңізді бөлісу міндетті емес, бірақ ол \
         операторға сізбен байланысуға көмектеседі.",
        "Здравствуйте! Это бот Единого контакт-центра «1414». Здесь можно написать обращение \
         по государственным и электронным услугам: текст, фото, документ, голосовое сообщение, \
         видео, геолокацию. Каждому обращению присваивается регистрационный номер, ответ даётся \
         в течение двух рабочих дней. Делиться номером телефона не обязательно, но так \
         оператору будет проще связаться с вами.",
    )
}

pub fn choose_language() -> &'static str {
    "Тілді таңдаңыз / Выберите язык:"
}

pub fn share_phone_button() -> Text {
    Text::new("📱 Телефон нөмірін жіберу", "📱 Отправить номер телефона")
}

pub fn new_appeal_button() -> Text {
    Text::new(NEW_APPEAL_KK, NEW_APPEAL_RU)
}

pub fn language_chosen() -> Text {
    Text::new(
        "Қазақ тілі таңдалды. Өтінішіңізді жазыңыз.",
        "Выбран русский язык. Напишите ваше обращение.",
    )
}

pub fn phone_saved() -> Text {
    Text::new(
        "Рақмет, телефон нөміріңіз сақталды.",
        "Спасибо, ваш номер телефона сохранён.",
    )
}

pub fn new_appeal_prompt() -> Text {
    Text::new(
        "Жаңа өтінішіңізді жазыңыз — оған жеке тіркеу нөмірі беріледі.",
        "Опишите новое обращение — ему будет присвоен отдельный регистрационный номер.",
    )
}

pub fn joined(number: &str) -> Text {
    Text::new(
        format!("Хабарламаңыз № {number} өтінішіңізге қосылды."),
        format!("Сообщение добавлено к вашему обращению № {number}."),
    )
}

pub fn acknowledgement(number: &str, due_at_local: &str) -> Text {
    Text::new(
        format!(
            "Өтінішіңіз тіркелді, тіркеу нөмірі № {number}. Жауап берілетін мерзім: {due_at_local}."
        ),
        format!("Ваше обращение зарегистрировано под № {number}. Срок ответа: {due_at_local}."),
    )
}

pub fn no_appeals() -> Text {
    Text::new("Сізде әзірге өтініш жоқ.", "У вас пока нет обращений.")
}

pub fn appeals_header() -> Text {
    Text::new("Сіздің өтініштеріңіз:", "Ваши обращения:")
}

pub fn appeal_line(number: &str, status: &str, due_at_local: &str) -> Text {
    Text::new(
        format!(
            "№ {number} — {}, мерзімі: {due_at_local}",
            status_name(status).kk
        ),
        format!(
            "№ {number} — {}, срок: {due_at_local}",
            status_name(status).ru
        ),
    )
}

/// Known status codes get words; anything else the server sends is shown as is.
pub fn status_name(code: &str) -> Text {
    match code {
        "registered" | "new" => Text::new("тіркелді", "зарегистрировано"),
        "in_progress" | "assigned" => Text::new("қаралуда", "на рассмотрении"),
        "forwarded" => Text::new(
            "уәкілетті органға жіберілді",
            "направлено в уполномоченный орган",
        ),
        "answered" => Text::new("жауап берілді", "дан ответ"),
        "closed" => Text::new("жабылды", "закрыто"),
        other => Text::new(other, other),
    }
}

pub fn help() -> Text {
    Text::new(
        format!(
            "Бұл бот «1414» Бірыңғай байланыс орталығына өтініш қабылдайды — тәулік бойы, \
             демалыссыз. Сұрағыңызды жазыңыз немесе фото, құжат, дауыстық хабар жіберіңіз: \
             тіркеу нөмірі мен жауап мерзімі хабарланады. Жауап екі жұмыс күні ішінде беріледі.\n\
             /status — өтініштеріңіздің күйі\n\
             «{NEW_APPEAL_KK}» — басқа мәселе бойынша жаңа өтініш\n\
             /start — тілді ауыстыру\n\
             Телефон: {PHONES}. E-mail: {EMAIL}"
        ),
        format!(
            "Этот бот принимает обращения в Единый контакт-центр «1414» — круглосуточно, без \
             выходных. Напишите вопрос или отправьте фото, документ, голосовое сообщение: вам \
             сообщат регистрационный номер и срок ответа. Ответ даётся в течение двух рабочих \
             дней.\n\
             /status — состояние ваших обращений\n\
             «{NEW_APPEAL_RU}» — отдельное обращение по другому вопросу\n\
             /start — сменить язык\n\
             Телефон: {PHONES}. E-mail: {EMAIL}"
        ),
    )
}

pub fn file_too_large(name: &str, size_bytes: u64, limit_bytes: u64) -> Text {
    let size = megabytes(size_bytes);
    let limit = megabytes(limit_bytes);
    Text::new(
        format!(
            "«{name}» файлы тым үлкен ({size} МБ, шегі {limit} МБ), сондықтан ол қабылданбады. \
             Хабарламаның қалған бөлігі тіркелді. Файлды кішірейтіп қайта жіберіңіз немесе \
             {EMAIL} поштасына жолдаңыз."
        ),
        format!(
            "Файл «{name}» слишком большой ({size} МБ, предел {limit} МБ), поэтому он не принят. \
             Остальная часть сообщения зарегистрирована. Уменьшите файл и отправьте снова или \
             пришлите его на {EMAIL}."
        ),
    )
}

pub fn file_failed(name: &str) -> Text {
    Text::new(
        format!("«{name}» файлын алу мүмкін болмады. Оны қайта жіберіп көріңіз."),
        format!("Не удалось получить файл «{name}». Попробуйте отправить его ещё раз."),
    )
}

/// A text or caption longer than Telegram allows (only a forged or broken client sends
/// one): kept for an operator, not registered.
pub fn message_too_long(length: usize, limit: usize) -> Text {
    Text::new(
        format!(
            "Хабарлама тым ұзын ({length} таңба, шегі {limit}), сондықтан өтініш ретінде \
             тіркелмеді; ол сақталды, оны оператор көреді. Мәтінді бөліктерге бөліп қайта \
             жіберіңіз немесе {EMAIL} поштасына жолдаңыз."
        ),
        format!(
            "Сообщение слишком длинное ({length} символов, предел {limit}), поэтому оно не \
             зарегистрировано как обращение; оно сохранено, его увидит оператор. Отправьте \
             текст частями или на почту {EMAIL}."
        ),
    )
}

pub fn intake_failed() -> Text {
    Text::new(
        format!(
            "Кешіріңіз, өтінішті қазір тіркеу мүмкін болмады. Хабарламаңыз сақталды, оны оператор \
             қарайды. Шұғыл болса, {PHONES} нөміріне қоңырау шалыңыз."
        ),
        format!(
            "Извините, сейчас не удалось зарегистрировать обращение. Ваше сообщение сохранено, \
             его рассмотрит оператор. Если вопрос срочный, позвоните: {PHONES}."
        ),
    )
}

pub fn unsupported_message() -> Text {
    Text::new(
        "Мұндай хабарлама түрі қабылданбайды. Мәтін, фото, құжат, дауыстық хабар, бейне, \
         орналасқан жер немесе контакт жіберіңіз.",
        "Такой тип сообщения не принимается. Отправьте текст, фото, документ, голосовое \
         сообщение, видео, геолокацию или контакт.",
    )
}

pub fn rating_recorded() -> Text {
    Text::new("Бағаңыз үшін рақмет!", "Спасибо за оценку!")
}

pub fn rating_already_recorded() -> Text {
    Text::new("Бағаңыз бұрын тіркелген.", "Ваша оценка уже учтена.")
}

pub fn rating_unknown() -> Text {
    Text::new("Өтініш табылмады.", "Обращение не найдено.")
}

fn megabytes(bytes: u64) -> String {
    // One decimal is enough to see how far over the limit a file is.
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}
