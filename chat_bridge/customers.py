"""Who the customer of a chat is: an e-mail address or a phone number given in the chat
ties it to that customer's record (and their history of calls and chats)."""

from __future__ import annotations

import contextlib
import logging
import re

from chat_bridge.chat import LiveChat
from hotline.store import Store, StoreError
from hotline.store.chats import ChatStore

log = logging.getLogger(__name__)

EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,24}")


class CustomerLinks:
    """Links chats to customers' records (one instance per bridge)."""

    def __init__(self, store: Store, chats: ChatStore) -> None:
        self.store = store
        self.chats = chats

    async def recognise(self, chat: LiveChat, text: str) -> None:
        """An e-mail address given in the chat links it to that customer (and their
        history of calls and chats), or is remembered for this one."""
        found = EMAIL.search(text)
        if found is None:
            return
        email = found.group(0)
        try:
            known = await self.chats.customer_for_email(email)
            if known is not None and known.id != chat.customer_id:
                chat.customer_id = known.id
                await self.chats.link_customer(chat.id, chat.contact_id, known.id)
            elif known is None and chat.customer_id is not None:
                customer = await self.store.customer(chat.customer_id)
                if customer is not None and not customer.email:
                    await self.store.update_customer(chat.customer_id, email=email)
            elif known is None:
                customer = await self.chats.customer_for_chat_id(f"email:{email.lower()}")
                await self.store.update_customer(customer.id, email=email)
                chat.customer_id = customer.id
                await self.chats.link_customer(chat.id, chat.contact_id, customer.id)
        except StoreError:
            log.exception("chat %s: could not record the e-mail address", chat.id)

    async def link_phone(self, chat: LiveChat, number: str) -> None:
        """A phone number given in the chat ties it to that caller's record."""
        with contextlib.suppress(ValueError, StoreError):
            customer = await self.store.customer_for_phone(number)
            if customer is not None and customer.id != chat.customer_id:
                chat.customer_id = customer.id
                await self.chats.link_customer(chat.id, chat.contact_id, customer.id)
