import { BadRequestException, type PipeTransform } from '@nestjs/common';

export interface CartItem {
  sku: string;
  qty: number;
}

/** Validates `{ "sku": string, "qty": int ≥ 1 }`; anything else is a 400. */
export class CartItemPipe implements PipeTransform<unknown, CartItem> {
  transform(body: unknown): CartItem {
    const { sku, qty } = (body ?? {}) as Partial<Record<keyof CartItem, unknown>>;
    if (typeof sku !== 'string' || sku.length === 0 || sku.length > 64) {
      throw new BadRequestException('sku must be a non-empty string of at most 64 characters');
    }
    if (typeof qty !== 'number' || !Number.isInteger(qty) || qty < 1 || qty > 10_000) {
      throw new BadRequestException('qty must be a whole number from 1 to 10000');
    }
    return { sku, qty };
  }
}
