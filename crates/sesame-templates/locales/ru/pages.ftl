# Страницы Sesame, русский. Те же идентификаторы, что в en/pages.ftl.

skip-to-content = Перейти к содержимому
lang-switch = Язык
lang-name-en = English
lang-name-ru = Русский
signed-in-as = Вы вошли как { $name }

signin-title = Вход
signin-identifier = Имя пользователя или email
signin-password = Пароль
signin-submit = Войти
signin-forgot = Забыли пароль?
signin-no-account = Нет учётной записи?
signin-signup-link = Создать
signin-providers = Или войти через
signin-invalid = Неверное имя пользователя, email или пароль.
signin-locked = { $minutes ->
    [one] Слишком много неудачных попыток. Попробуйте снова через { $minutes } минуту.
    [few] Слишком много неудачных попыток. Попробуйте снова через { $minutes } минуты.
   *[other] Слишком много неудачных попыток. Попробуйте снова через { $minutes } минут.
}
signin-disabled = Учётная запись отключена. Обратитесь к администратору.
signin-mfa-title = Второй фактор
signin-mfa-intro = Введите 6-значный код, который показывает приложение-аутентификатор для этой учётной записи.
signin-mfa-code = Код
signin-mfa-submit = Продолжить
signin-mfa-recovery-title = Потеряли телефон?
signin-mfa-recovery-intro = Введите вместо кода один из кодов восстановления. Каждый действует один раз.
signin-mfa-recovery-code = Код восстановления
signin-mfa-recovery-submit = Войти с кодом восстановления
signin-mfa-invalid = Код неверен или уже использован.
signin-mfa-restart = Начать заново
signin-email-not-verified = Сначала подтвердите адрес почты: перейдите по ссылке из нашего письма.

signup-title = Создание учётной записи
signup-email = Email
signup-username = Имя пользователя
signup-username-hint = Необязательно. 3–100 латинских букв, цифр, «_», «.» или «-».
signup-password = Пароль
signup-password-hint = Не меньше 8 символов. Лучше всего — длинная фраза.
signup-submit = Создать учётную запись
signup-have-account = Уже есть учётная запись?
signup-signin-link = Войти
signup-email-taken = Учётная запись с таким email уже существует.
signup-username-taken = Это имя пользователя занято.

check-email-title = Проверьте почту
check-email-verify = Мы отправили вам ссылку для подтверждения адреса. Перейдите по ней, затем войдите.
check-email-reset = Если этот адрес принадлежит учётной записи, мы отправили на него ссылку для смены пароля. Ссылка действует один раз и недолго.
check-email-back = Вернуться ко входу

forgot-title = Забыли пароль?
forgot-intro = Укажите email вашей учётной записи, и мы пришлём ссылку для выбора нового пароля.
forgot-email = Email
forgot-submit = Отправить ссылку

reset-title = Новый пароль
reset-new-password = Новый пароль
reset-signs-out = Все ваши сеансы будут завершены, после чего можно войти с новым паролем.
reset-submit = Сохранить пароль
reset-invalid-title = Ссылка не работает
reset-invalid = Ссылка недействительна, уже использована или устарела.
reset-again = Запросить новую ссылку

verify-title = Подтверждение адреса
verify-intro = Нажмите кнопку, чтобы подтвердить, что этот адрес ваш.
verify-submit = Подтвердить адрес
verify-done = Адрес почты подтверждён.
verify-invalid = Ссылка недействительна, уже использована или устарела.
verify-continue = Перейти в учётную запись

signout-title = Выход
signout-intro = Выйти из { $product } в этом браузере?
signout-submit = Выйти
signout-cancel = Вернуться в учётную запись

error-home = Продолжить
error-csrf-title = Запрос отклонён
error-csrf = Форма устарела или отправлена с другого сайта, поэтому ничего не изменено. Вернитесь, обновите страницу и попробуйте снова.
error-not-found-title = Страница не найдена
error-not-found = По этому адресу страницы нет.
error-rate-limited-title = Слишком много запросов
error-rate-limited = Слишком много попыток из вашей сети. Подождите немного и попробуйте снова.
error-unavailable-title = Временно недоступно
error-unavailable = Сервис сейчас не может ответить. Попробуйте чуть позже.
error-internal-title = Что-то пошло не так
error-internal = Произошла непредвиденная ошибка. Она записана в журнал; попробуйте позже.

account-nav = Учётная запись
nav-profile = Профиль
nav-security = Безопасность
nav-sessions = Сеансы
nav-signout = Выйти
account-title = Ваш профиль
account-display-name = Отображаемое имя
account-username = Имя пользователя
account-email = Email
account-email-unverified = ещё не подтверждён
account-email-pending-label = Новый адрес, ждёт подтверждения
account-current-password = Текущий пароль
account-current-password-hint = Нужен только для смены email.
account-save = Сохранить
account-wrong-password = Текущий пароль неверен.

security-title = Безопасность
security-password-heading = Смена пароля
security-others-end = Остальные ваши сеансы будут завершены.
security-submit = Сменить пароль
security-mfa-heading = Двухэтапный вход
security-mfa-required = Для вашей роли нужен второй фактор. Подключите приложение-аутентификатор или добавьте ключ доступа, чтобы продолжить.
security-totp-off = Добавьте к паролю код из приложения-аутентификатора (Google Authenticator, 1Password, Aegis…): тогда одного украденного пароля не хватит, чтобы войти в вашу учётную запись.
security-totp-start = Подключить приложение-аутентификатор
security-totp-scan = Отсканируйте этот QR-код приложением-аутентификатором.
security-totp-manual = Или введите в него этот ключ:
security-totp-code = Шестизначный код, который сейчас показывает приложение
security-totp-confirm = Включить
security-totp-code-wrong = Код неверен. Проверьте часы телефона и введите самый новый код.
security-totp-expired = Подключение заняло слишком много времени. Начните заново.
security-totp-on = Двухэтапный вход включён: при входе нужен код из приложения-аутентификатора.
security-codes-left = { $count ->
    [one] У вас { $count } неиспользованный код восстановления.
    [few] У вас { $count } неиспользованных кода восстановления.
   *[other] У вас { $count } неиспользованных кодов восстановления.
}
security-codes-few = { $count ->
    [0] Кодов восстановления не осталось. Создайте новые, иначе вместе с телефоном можно потерять доступ.
    [one] Остался только { $count } код восстановления. Создайте новые.
    [few] Осталось только { $count } кода восстановления. Создайте новые.
   *[other] Осталось только { $count } кодов восстановления. Создайте новые.
}
security-codes-new = Создать новые коды восстановления
security-codes-heading = Ваши коды восстановления
security-codes-intro = Сохраните их в надёжном месте, отдельно от телефона. Каждый код один раз впустит вас, если приложение потеряно. Они показаны только сейчас; новые коды отменяют эти.
security-codes-done = Я их сохранил
security-totp-remove = Выключить двухэтапный вход
security-totp-remove-warning = Приложение и коды восстановления будут удалены.
notice-mfa-removed = Двухэтапный вход выключен.
notice-mfa-enroll-required = Для вашей роли нужен второй фактор: подключите приложение-аутентификатор или добавьте ключ доступа.

sessions-title = Сеансы
sessions-intro = Где выполнен вход в вашу учётную запись. Завершите любой незнакомый сеанс.
sessions-none = Сеансов нет.
sessions-this = этот браузер
sessions-kind = Тип
sessions-kind-browser = Браузер
sessions-kind-api = Приложение или API
sessions-ip = IP-адрес
sessions-started = Начат
sessions-last-used = Последнее использование
sessions-end = Завершить
sessions-end-label = Завершить сеанс на { $device }
sessions-end-others = Выйти на всех остальных устройствах
sessions-device-unknown = Неизвестное устройство

notice-profile-saved = Профиль сохранён.
notice-email-change-sent = Мы отправили ссылку на новый адрес. Он станет вашим email после перехода по ней.
notice-password-changed = Пароль изменён. Остальные сеансы завершены.
notice-password-reset = Пароль изменён. Войдите с новым паролем.
notice-session-ended = Сеанс завершён.
notice-sessions-ended = Все остальные сеансы завершены.
notice-signed-out = Вы вышли.

core-this-field-may-not-be-blank = Это поле обязательно.
core-not-a-valid-email-address = Это не адрес электронной почты.
core-must-be-at-most-254-characters = Не больше 254 символов.
core-must-be-3-to-100-characters = От 3 до 100 символов.
core-may-contain-only-letters-digits-and = Только латинские буквы, цифры, «_», «.» и «-».
core-must-be-at-least-8-characters = Не меньше 8 символов.
core-must-be-at-most-1024-bytes = Не больше 1024 байт.
core-this-password-is-too-common = Это слишком распространённый пароль: его злоумышленники пробуют одним из первых.
core-must-differ-from-the-email-and-the-username = Должен отличаться от email и имени пользователя.
core-must-be-at-most-200-characters = Не больше 200 символов.
core-required-to-change-the-email-address = Нужен для смены email.

nav-apps = Приложения
consent-title = Разрешить { $app }?
consent-intro = { $app } просит войти с вашей учётной записью и:
consent-allow = Разрешить
consent-redirect = После этого вы будете направлены на { $host }.
consent-deny = Отказать
consent-revoke-later = Разрешение можно отозвать в любой момент: Учётная запись → Приложения.
scope-openid = знать, кто вы (идентификатор учётной записи)
scope-profile = видеть ваше имя пользователя и отображаемое имя
scope-email = видеть ваш адрес электронной почты
scope-offline_access = оставаться в системе, пока вас нет
scope-api = использовать «{ $scope }» от вашего имени
signed-out-title = Вы вышли
signed-out-intro = Вы вышли из { $product }.
signed-out-signin = Войти снова
apps-title = Приложения
apps-none = Вы не разрешили ни одному приложению пользоваться вашей учётной записью.
apps-revoke = Отозвать доступ
error-unknown-client-title = Нельзя войти в это приложение
error-unknown-client = Приложение, которое направило вас сюда, неизвестно этому сервису, поэтому вы не были направлены обратно.
error-invalid-redirect-uri = Приложение, которое направило вас сюда, указало адрес, не зарегистрированный для него, поэтому вы не были туда направлены.
error-logout-redirect = Приложение попросило направить вас на незарегистрированный адрес, поэтому вы не были туда направлены. Возможно, вы всё ещё в системе.
error-bad-id-token-hint = Запрос на выход выпущен не этим сервисом, поэтому ничего не изменилось.
notice-app-removed = У приложения больше нет доступа к вашей учётной записи.

console-nav = Консоль
console-title = Консоль
console-intro = Управляйте Sesame отсюда: находите пользователей, смотрите, как они входят, разблокируйте, отключайте и завершайте их сеансы. Каждое действие записывается в журнал от вашего имени.
console-users = Пользователи
console-users-intro = поиск по email или имени пользователя, страница пользователя.
console-own-account = Ваша учётная запись
console-search = Email или имя пользователя
console-search-submit = Найти
console-no-users = Никого не найдено.
console-email = Email
console-username = Имя пользователя
console-name = Имя
console-roles = Роли
console-state = Состояние
console-created = Создан
console-active = Активен
console-disabled = Отключён
console-locked = Заблокирован
console-locked-until = Заблокирован до
console-next = Следующая страница
console-email-verified = Email подтверждён
console-yes = Да
console-no = Нет
console-failed-logins = Неудачных входов подряд
console-second-factor = Второй фактор
console-totp-on = { $count ->
    [one] Приложение-аутентификатор; остался { $count } код восстановления
    [few] Приложение-аутентификатор; осталось { $count } кода восстановления
   *[other] Приложение-аутентификатор; осталось { $count } кодов восстановления
}
console-passkeys = { $count ->
    [one] { $count } ключ доступа
    [few] { $count } ключа доступа
   *[other] { $count } ключей доступа
}
console-none = Нет
console-last-login = Последний вход
console-actions = Действия
console-unlock-intro = Разблокировка снимает все блокировки: общую (указана выше) и блокировки отдельных сетей после неверных паролей из них.
console-unlock = Разблокировать
console-enable = Включить
console-disable = Отключить…
console-end-sessions = Завершить все сеансы…
console-confirm-disable = Отключить { $email }? Все сеансы будут завершены, войти будет нельзя, пока учётную запись снова не включат.
console-confirm-end-sessions = Завершить все сеансы и входы в приложения { $email }?
console-confirm = Да, выполнить
console-cancel = Отмена
console-events = Последние события
console-when = Когда
console-event = Событие
console-last-admin = Это последний активный администратор: его нельзя отключить.
error-forbidden-title = Нет доступа
error-forbidden = Эта страница только для администраторов.
error-step-up-title = Нужен второй фактор
error-step-up = Для вашей роли на этой странице нужен вход со вторым фактором. Выйдите и войдите снова с ним.
notice-user-unlocked = Учётная запись разблокирована.
notice-user-enabled = Учётная запись включена.
notice-user-disabled = Учётная запись отключена, все сеансы завершены.
notice-user-signed-out = Все сеансы пользователя завершены.
console-clients = Клиенты
console-clients-intro = сервисы и приложения, получающие токены; создание (секрет показывается один раз) и удаление.
console-keys = Ключи
console-keys-intro = ключи подписи и их возраст; ротация.
console-audit = Журнал аудита
console-audit-intro = все входы, изменения и действия администраторов, с фильтром по пользователю и событию.
console-no-clients = Клиентов пока нет.
console-client-created = Клиент создан
console-client-secret-once = Скопируйте секрет сейчас: он показан один раз, хранится только его хеш.
console-confirm-delete-client = Удалить клиента { $client }? Он больше не сможет получать токены, а выданные перестанут работать.
console-client-kind = Тип
console-client-grants = Типы грантов
console-client-grants-hint = Если ничего не отмечено: приложение с адресами перенаправления (или публичное) получает code flow и refresh, иначе сервис получает client credentials.
console-client-public = Публичный
console-client-confidential = Конфиденциальный
console-client-first-party = собственный
console-delete = Удалить
console-delete-client-label = Удалить { $name }
console-new-client = Новый клиент
console-client-audiences = Аудитории
console-client-scopes = Области (scopes)
console-client-delegable-roles = Роли, с которыми он может действовать
console-client-redirect-uris = Адреса перенаправления
console-client-logout-uris = Адреса после выхода
console-client-backchannel = Адрес back-channel logout
console-list-hint = Через пробел или запятую.
console-client-public-label = Публичный (без секрета: SPA, мобильное или консольное приложение; доказательство — PKCE)
console-client-first-party-label = Собственный (без страницы согласия)
console-create-client = Создать клиента
console-keys-about = Токены доступа и ID-токены подписываются своими ключами. Ротация делает опубликованный следующий ключ каждого семейства подписывающим и публикует новый следующий; подписанные раньше токены действуют до истечения срока.
console-key-purpose = Подписывает
console-key-purpose-access = токены доступа
console-key-purpose-id_token = ID-токены
console-key-state-next = следующий
console-key-state-active = подписывает
console-key-state-retired = выведен
console-key-age = Возраст
console-key-days = { $count ->
    [0] сегодня
    [one] { $count } день
    [few] { $count } дня
   *[other] { $count } дней
}
console-rotate = Ротация ключей…
console-confirm-rotate = Выполнить ротацию обоих семейств ключей сейчас?
console-audit-user = Id пользователя
console-audit-event-hint = Например, login_failed, account_locked, refresh_reused.
console-audit-detail = Подробности
console-filter = Применить
notice-client-deleted = Клиент удалён.
notice-keys-rotated = Ключи обновлены.
console-audit-bad-user = Это не id пользователя (UUID, как на странице пользователя).
console-save-roles = Сохранить роли
console-remove-factors = Удалить вторые факторы…
console-confirm-remove-factors = Удалить все вторые факторы { $email }? До новой настройки вход будет только по паролю; пользователю придёт письмо об этом.
console-delete-user = Удалить учётную запись
console-confirm-delete = Удаление { $email } безвозвратно уберёт учётную запись, её сеансы и вторые факторы. Введите email для подтверждения.
console-type-email = Email учётной записи
console-email-mismatch = Это не email этой учётной записи: ничего не удалено.
notice-user-deleted = Учётная запись удалена.
notice-roles-saved = Роли сохранены; следующий токен пользователя будет их содержать.
notice-factors-removed = Все вторые факторы удалены, пользователю отправлено письмо.
console-webhooks = Вебхуки
console-webhooks-intro = адреса, получающие изменения пользователей и сеансов; добавление (секрет показывается один раз), удаление, доставки.
console-webhook-created = Вебхук добавлен
console-webhook-secret-once = Секрет подписи, показан один раз (Standard Webhooks: ключ HMAC — часть после whsec_, декодированная из base64):
console-confirm-delete-webhook = Удалить этот вебхук? Больше ничего не будет отправлено, журнал доставок тоже удалится.
console-no-webhooks = Вебхуков пока нет.
console-webhook-events = События
console-webhook-status-active = активен
console-webhook-status-disabled = отключён (ответил 410)
console-delete-webhook-label = Удалить { $url }
console-new-webhook = Новый вебхук
console-add-webhook = Добавить вебхук
console-deliveries = Доставки
console-attempts = Попытки
console-last-attempt = Последняя попытка
console-delivery-pending = ожидает
console-delivery-delivered = доставлено
console-delivery-failed = не доставлено
console-delivery-disabled = отключено
notice-webhook-deleted = Вебхук удалён.
console-active-sessions = Активные сеансы
console-email-backlog = Письма в очереди
console-webhook-backlog = Доставки вебхуков в очереди
console-chart-hour = Последний час (шаг 5 минут)
console-chart-day = Последние сутки (по часам)
console-chart-numbers = Числа
console-chart-from = С
console-chart-title = Входы, неудачные входы, блокировки и повторное использование refresh-токенов
console-series-login_succeeded = входы
console-series-login_failed = неудачные входы
console-series-account_locked = блокировки
console-series-refresh_reused = повторное использование refresh-токенов

# Ключи доступа (issue #19)
signin-passkey = Войти с ключом доступа
signin-passkey-invalid = Этот ключ доступа не принят. Попробуйте ещё раз или войдите с паролем.
signin-mfa-passkey-intro = Подтвердите вход одним из ваших ключей доступа (телефон, отпечаток пальца или PIN-код компьютера, аппаратный ключ).
signin-mfa-passkey = Использовать ключ доступа
passkey-failed = Ключ доступа не сработал или вход отменён. Попробуйте ещё раз.
passkey-needs-javascript = Для ключей доступа нужен браузер с JavaScript и поддержкой ключей доступа.
security-totp-heading = Приложение-аутентификатор
security-codes-title = Коды восстановления
security-passkeys-heading = Ключи доступа
security-passkeys-intro = Ключ доступа позволяет входить с телефоном, отпечатком пальца или PIN-кодом компьютера либо аппаратным ключом — без пароля, который можно подсмотреть или украсть. Когда ключ есть, одного пароля для входа уже недостаточно.
security-passkey-name = Название
security-passkey-rename = Переименовать
security-passkey-remove = Удалить
security-passkey-remove-named = Удалить ключ доступа { $name }
security-passkey-added = Добавлен { $at }
security-passkey-used = последний вход { $at }
security-passkey-unused = ещё не использовался
security-passkey-new-name = Название нового ключа
security-passkey-new-name-hint = Необязательно, например «Ноутбук» или «Телефон».
security-passkey-add = Добавить ключ доступа
security-passkey-rejected = Не удалось добавить ключ доступа. Начните заново; если он уже привязан к этой учётной записи, добавлять его не нужно.
security-passkey-name-invalid = Название — от 1 до 64 символов.
notice-passkey-added = Ключ доступа добавлен. В следующий раз входите с ним.
notice-passkey-removed = Ключ доступа удалён.
notice-passkey-renamed = Ключ доступа переименован.
account-passkey-offer = Входите быстрее и надёжнее: добавьте ключ доступа — тогда одного пароля для входа будет недостаточно.
account-passkey-offer-link = Добавить ключ доступа

# Вход через другого провайдера (issue #22)
signin-with = Войти через { $provider }
upstream-state-invalid = Этот вход через провайдера неизвестен, уже использован или устарел. Начните заново.
upstream-unavailable = { $provider } сейчас недоступен. Попробуйте позже или войдите другим способом.
upstream-refused = Ответ провайдера не принят. Начните вход заново.
upstream-link-required = Учётная запись с этим email уже есть. Войдите в неё с паролем, затем привяжите провайдера в разделе «Безопасность».
upstream-identity-taken = Эта учётная запись у провайдера уже привязана к другой учётной записи здесь.
upstream-signup-closed = Учётной записи для вас здесь нет, а создавать новые таким способом нельзя.
security-identities-heading = Другие способы входа
security-identity-linked = привязан { $at }
security-identity-unlink = Отвязать
security-identity-unlink-named = Отвязать { $provider }
security-identity-link = Привязать { $provider }
security-identity-last = Это ваш единственный способ входа. Сначала задайте пароль (через «Забыли пароль?») или добавьте ключ доступа.
notice-identity-linked = Провайдер привязан: через него можно входить.
notice-identity-unlinked = Провайдер отвязан.
upstream-email-unverified = Провайдер не подтвердил ваш email, поэтому учётная запись по нему не создаётся. Подтвердите адрес у провайдера и попробуйте снова или зарегистрируйтесь здесь с паролем.
console-identities = Входит через
