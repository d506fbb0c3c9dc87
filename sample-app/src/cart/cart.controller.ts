import { Body, Controller, Delete, Get, Post } from '@nestjs/common';
import { HttpSessionState, Session, SessionState, SessionStateBehavior } from 'nestjs-session-state';
import { CartItemPipe, type CartItem } from './cart-item.js';

@Controller('cart')
export class CartController {
  @Get()
  @SessionState(SessionStateBehavior.ReadOnly)
  get(@Session() session: HttpSessionState) {
    return { items: session.get<CartItem[]>('cart') ?? [] };
  }

  @Post('items')
  add(@Session() session: HttpSessionState, @Body(CartItemPipe) item: CartItem) {
    const items = session.get<CartItem[]>('cart');
    if (!items) {
      session.set('cart', [item]);
      return { items: [item] };
    }
    // Mutating the loaded array in place is enough: the module saves nested changes too.
    const line = items.find((i) => i.sku === item.sku);
    if (line) line.qty += item.qty;
    else items.push(item);
    return { items };
  }

  @Delete()
  clear(@Session() session: HttpSessionState) {
    session.delete('cart');
    return { items: [] };
  }
}
